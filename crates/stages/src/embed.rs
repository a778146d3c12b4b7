//! Embed body: map every prepared image row to a feature vector with the
//! `[embed]` encoder, in batches with a progress bar.
//!
//! Input: the prepare object's `images` u8 [N, H, W, C].
//! Output: `features` f32 [N, D], same rows as prepare (D = 1280 for
//! EfficientNet-Lite0, H * W * C for `pixels`). A shard computes the rows
//! `k * N / n .. (k + 1) * N / n` of the same tensor.

use std::ops::Range;

use cwerm_config::{EncoderKind, Stage};
use cwerm_encoder::{Encoder, ImageShape, Progress, embed_rows, encoder_from_config};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;

/// Version of the embed object layout.
pub const FORMAT_VERSION: u32 = 2;

/// Computes `features` for every prepare row.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let images = PreparedImages::from_context(context)?;
    let features = embed_range(context, &images, 0..images.rows)?;
    output(context, images.rows, features.dim, features.values)
}

/// Computes `features` for the rows of one shard; the summary records the range.
pub fn run_rows(context: &StageContext<'_>, rows: Range<usize>) -> Result<StageOutput, StageError> {
    let images = PreparedImages::from_context(context)?;
    let features = embed_range(context, &images, rows.clone())?;
    let tensors = vec![Tensor::from_f32(
        "features",
        vec![rows.len(), features.dim],
        &features.values,
    )?];
    let summary = json!({"rows": [rows.start, rows.end], "total_rows": images.rows});
    Ok(StageOutput { tensors, summary })
}

/// Builds the embed object from features `[rows, dim]`, so that an unsharded
/// run and a merge of shards write the same bytes.
pub fn output(
    context: &StageContext<'_>,
    rows: usize,
    dim: usize,
    features: Vec<f32>,
) -> Result<StageOutput, StageError> {
    let config = &context.pipeline.embed;
    let resolution = (config.encoder != EncoderKind::Pixels).then_some(config.resolution);
    let summary = json!({
        "rows": rows,
        "dimensions": dim,
        "encoder": config.encoder,
        "resolution": resolution,
    });
    let tensors = vec![Tensor::from_f32("features", vec![rows, dim], &features)?];
    Ok(StageOutput { tensors, summary })
}

/// Number of prepare rows, for the shard ranges.
pub fn prepare_rows(context: &StageContext<'_>) -> Result<usize, StageError> {
    Ok(PreparedImages::from_context(context)?.rows)
}

struct PreparedImages<'a> {
    pixels: &'a [u8],
    rows: usize,
    shape: ImageShape,
}

impl<'a> PreparedImages<'a> {
    fn from_context(context: &StageContext<'a>) -> Result<PreparedImages<'a>, StageError> {
        let object = context.object(Stage::Prepare)?;
        let shape = object
            .safetensors()?
            .tensor("images")
            .map(|view| view.shape().to_vec());
        let shape = shape.map_err(|error| {
            context.invalid_input(format!(
                "prepare object has no readable `images` tensor: {error}"
            ))
        })?;
        let [rows, height, width, channels] = shape[..] else {
            return Err(context.invalid_input(format!(
                "prepare tensor `images` has shape {shape:?}, expected [N, H, W, C]"
            )));
        };
        Ok(PreparedImages {
            pixels: object.tensor_bytes("images")?,
            rows,
            shape: ImageShape::new(height, width, channels),
        })
    }
}

struct Features {
    dim: usize,
    values: Vec<f32>,
}

fn embed_range(
    context: &StageContext<'_>,
    images: &PreparedImages<'_>,
    rows: Range<usize>,
) -> Result<Features, StageError> {
    let config = &context.pipeline.embed;
    let encoder: Box<dyn Encoder> = encoder_from_config(config, images.shape)
        .map_err(|error| StageError::algorithm(Stage::Embed, error))?;
    let encoder_name = serde_json::to_value(config.encoder).unwrap_or_default();
    let input = match config.encoder {
        EncoderKind::Pixels => "raw pixels".to_string(),
        EncoderKind::EfficientnetLite0 => format!("at {} px", config.resolution),
    };
    tracing::info!(
        "embed: {} rows of {}x{}x{} with {} {input}",
        rows.len(),
        images.shape.height,
        images.shape.width,
        images.shape.channels,
        encoder_name.as_str().unwrap_or("?"),
    );
    let values = embed_rows(
        encoder.as_ref(),
        images.pixels,
        rows,
        config.batch_size as usize,
        Progress::Auto,
    )
    .map_err(|error| StageError::algorithm(Stage::Embed, error))?;
    Ok(Features {
        dim: encoder.dim(),
        values,
    })
}
