//! Real-data setting: EfficientNet-Lite0 features at 64 px of a stratified
//! Fashion-MNIST subset (600 images per class, 10 trusted meta images per
//! class held out, 40% symmetric noise), and a 10% Moderate coreset.
//!
//! Reads `data/fashion-mnist` (IDX, gzip) and
//! `data/weights/efficientnet-lite0.safetensors` relative to the workspace
//! root; `bash scripts/fetch-assets.sh` fetches both.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use cwerm_config::{EmbedConfig, NoiseKind, PrepareConfig, SelectConfig, SelectMethod};
use cwerm_encoder::{ImageShape, Progress, embed_rows, encoder_from_config};

pub struct FashionSetting {
    /// Features `[N, 1280]` of the training and meta rows.
    pub features: Tensor,
    pub labels: Vec<u32>,
    pub clean_labels: Vec<u32>,
    pub coreset: Vec<u32>,
    pub meta: Vec<u32>,
    pub classes: usize,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the setting.
pub fn fashion_setting() -> FashionSetting {
    let root = workspace_root();
    let prepare = PrepareConfig {
        path: root
            .join("data/fashion-mnist")
            .to_string_lossy()
            .into_owned(),
        subset_per_class: 600,
        meta_per_class: 10,
        noise: NoiseKind::Symmetric,
        noise_rate: 0.4,
        ..PrepareConfig::default()
    };
    let prepared = cwerm_data::prepare(&prepare).expect("prepare Fashion-MNIST");

    // Training and meta rows come first, the test split last.
    let rows = prepared.split.iter().filter(|s| **s != 2).count();
    assert!(prepared.split[rows..].iter().all(|s| *s == 2));
    let dim = 1280;

    let features = embed(&root, &prepared, rows);

    let labels = prepared.labels[..rows].to_vec();
    let split = &prepared.split[..rows];
    let selection = cwerm_coreset::select(
        &cwerm_coreset::SelectInput {
            features: &features,
            dim,
            labels: &labels,
            split,
            num_classes: prepared.num_classes,
            clean_labels: None,
        },
        &SelectConfig {
            method: SelectMethod::Moderate,
            ratio: 0.1,
        },
        0,
    )
    .expect("Moderate selection");
    let meta = (0..rows as u32)
        .filter(|&r| split[r as usize] == 1)
        .collect();

    FashionSetting {
        features: Tensor::from_vec(features, (rows, dim), &Device::Cpu).unwrap(),
        clean_labels: prepared.clean_labels[..rows].to_vec(),
        labels,
        coreset: selection.indices,
        meta,
        classes: prepared.num_classes,
    }
}

fn embed(root: &Path, prepared: &cwerm_data::Prepared, rows: usize) -> Vec<f32> {
    let weights = root.join("data/weights/efficientnet-lite0.safetensors");
    assert!(
        weights.exists(),
        "{} is missing; run `bash scripts/fetch-assets.sh`",
        weights.display()
    );
    let config = EmbedConfig {
        weights: weights.to_string_lossy().into_owned(),
        resolution: 64,
        ..EmbedConfig::default()
    };
    let shape = ImageShape::new(prepared.height, prepared.width, prepared.channels);
    let encoder = encoder_from_config(&config, shape).expect("load the encoder");
    embed_rows(
        encoder.as_ref(),
        &prepared.images,
        0..rows,
        64,
        Progress::Hidden,
    )
    .expect("embed")
}
