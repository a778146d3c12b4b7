//! Encoders built from config, batched and sharded embedding, and their input errors.

mod common;

use std::path::PathBuf;

use common::{fixture, load_params, weights_path};
use cwerm_config::{EmbedConfig, EncoderKind};
use cwerm_encoder::{
    Encoder, ImageShape, Lite0Encoder, PixelsEncoder, Progress, embed_all, embed_rows,
    encoder_from_config, shard_rows,
};

/// 20 grey 28x28 images: the 8 reference Fashion-MNIST images, then 12
/// seeded variations of them (shifted values, so every row differs).
fn images() -> Vec<u8> {
    let base = fixture("images_u8").bytes;
    let mut images = base.clone();
    for shift in 1..=12u8 {
        let source = &base[(shift as usize % 8) * 784..][..784];
        images.extend(
            source
                .iter()
                .map(|&v| v.wrapping_add(shift.wrapping_mul(37))),
        );
    }
    images
}

fn lite0(resolution: u32) -> Lite0Encoder {
    Lite0Encoder::from_params(&load_params(), resolution, ImageShape::new(28, 28, 1)).unwrap()
}

fn config(encoder: EncoderKind, weights: PathBuf, resolution: u32) -> EmbedConfig {
    EmbedConfig {
        encoder,
        weights: weights.to_string_lossy().into_owned(),
        resolution,
        batch_size: 4,
    }
}

#[test]
fn sharded_embedding_equals_unsharded_rows() {
    let encoder = lite0(32);
    let images = images();
    let rows = images.len() / 784;
    let whole = embed_all(&encoder, &images, 7, Progress::Hidden).unwrap();
    assert_eq!(whole.len(), rows * 1280);

    let mut joined = Vec::new();
    for index in 0..3 {
        let range = shard_rows(rows, index, 3).unwrap();
        // A batch size that splits the shards differently from the whole run.
        let shard = embed_rows(&encoder, &images, range.clone(), 3, Progress::Hidden).unwrap();
        let expected = &whole[range.start * 1280..range.end * 1280];
        assert_eq!(shard.len(), expected.len(), "shard {index}/3 length");
        let identical = shard
            .iter()
            .zip(expected)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(identical, "shard {index}/3 differs from the unsharded rows");
        joined.extend(shard);
    }
    assert_eq!(joined.len(), whole.len());
}

#[test]
fn features_do_not_depend_on_batch_size() {
    let encoder = lite0(40);
    let images = images();
    let one_by_one = embed_all(&encoder, &images, 1, Progress::Hidden).unwrap();
    let one_batch = embed_all(&encoder, &images, 64, Progress::Hidden).unwrap();
    let identical = one_by_one
        .iter()
        .zip(&one_batch)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(identical, "batch size 1 and 64 give different bytes");
}

#[test]
fn config_builds_lite0_encoder() {
    let encoder = encoder_from_config(
        &config(EncoderKind::EfficientnetLite0, weights_path(), 32),
        ImageShape::new(28, 28, 1),
    )
    .unwrap();
    assert_eq!(encoder.dim(), 1280);
    let features = encoder.embed(&images()[..2 * 784]).unwrap();
    assert_eq!(features.len(), 2 * 1280);
    assert!(
        features.iter().all(|v| v.is_finite() && *v >= 0.0),
        "ReLU6 features are >= 0"
    );
}

#[test]
fn pixels_encoder_scales_without_resizing() {
    let encoder = encoder_from_config(
        &config(EncoderKind::Pixels, PathBuf::from("unused"), 96),
        ImageShape::new(2, 2, 1),
    )
    .unwrap();
    assert_eq!(encoder.dim(), 4);
    let features = encoder.embed(&[0, 127, 255, 63, 1, 2, 3, 4]).unwrap();
    assert_eq!(
        features,
        vec![
            -127.0 / 128.0,
            0.0,
            1.0,
            -0.5,
            -126.0 / 128.0,
            -125.0 / 128.0,
            -124.0 / 128.0,
            -123.0 / 128.0
        ]
    );
}

#[test]
fn missing_weights_name_the_fetch_script() {
    let missing = PathBuf::from("/nonexistent/efficientnet-lite0.safetensors");
    let error = encoder_from_config(
        &config(EncoderKind::EfficientnetLite0, missing, 96),
        ImageShape::new(28, 28, 1),
    )
    .err()
    .unwrap();
    let message = error.to_string();
    assert!(
        message.contains("/nonexistent/efficientnet-lite0.safetensors"),
        "{message}"
    );
    assert!(message.contains("scripts/fetch-weights.sh"), "{message}");
}

#[test]
fn resolution_below_32_is_rejected() {
    let error = encoder_from_config(
        &config(EncoderKind::EfficientnetLite0, weights_path(), 31),
        ImageShape::new(28, 28, 1),
    )
    .err()
    .unwrap();
    assert_eq!(
        error.to_string(),
        "invalid encoder resolution 31: must be at least 32 pixels"
    );
}

#[test]
fn ragged_image_buffer_is_rejected() {
    let encoder = PixelsEncoder::new(ImageShape::new(28, 28, 1)).unwrap();
    let error = encoder.embed(&[0u8; 785]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "image buffer of 785 bytes is not a whole number of 28x28x1 images"
    );
}

#[test]
fn row_range_past_the_end_is_rejected() {
    let encoder = PixelsEncoder::new(ImageShape::new(28, 28, 1)).unwrap();
    let error = embed_rows(&encoder, &images(), 15..21, 4, Progress::Hidden).unwrap_err();
    assert_eq!(
        error.to_string(),
        "row range 15..21 is outside the 20 images"
    );
}

#[test]
fn zero_batch_size_is_rejected() {
    let encoder = PixelsEncoder::new(ImageShape::new(28, 28, 1)).unwrap();
    let error = embed_all(&encoder, &images(), 0, Progress::Hidden).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid batch size 0: must be at least 1"
    );
}
