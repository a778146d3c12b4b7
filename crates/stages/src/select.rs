//! Select body: choose the coreset among the training rows.
//!
//! Inputs: prepare `split` u8 [N]; embed `features` f32 [N, D].
//! Outputs: `indices` u32 [M], ascending prepare rows of the kept training
//! examples; `scores` f32 [N], -1 for rows that are not training rows.

use cwerm_config::{SelectMethod, Stage};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;

/// Version of the select object layout.
pub const FORMAT_VERSION: u32 = 1;

/// Chooses the coreset.
///
/// TODO: placeholder body. The score is the Euclidean distance to the mean
/// training feature over all classes, `moderate` keeps the k rows closest to
/// it instead of the per-class median band, and `random` ranks rows by a
/// seeded hash; k = max(1, round(ratio * training rows)).
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let split = context.tensor(Stage::Prepare, "split")?;
    let split = split.as_u8()?;
    let (features, dimensions) = features(context)?;
    let rows = split.len();
    if features.len() != rows * dimensions {
        return Err(context.invalid_input(format!(
            "embed `features` has {} rows, prepare has {rows}",
            features.len() / dimensions.max(1)
        )));
    }

    let training: Vec<usize> = (0..rows).filter(|&row| split[row] == 0).collect();
    if training.is_empty() {
        return Err(context.invalid_input("the prepare object has no training rows to select from"));
    }

    let mean = mean_feature(&features, dimensions, &training);
    let mut scores = vec![-1.0f32; rows];
    for &row in &training {
        scores[row] = distance(&features[row * dimensions..(row + 1) * dimensions], &mean);
    }

    let select = &context.pipeline.select;
    let keep = ((select.ratio * training.len() as f64).round() as usize).clamp(1, training.len());
    let mut ranked = training.clone();
    match select.method {
        SelectMethod::All => {}
        SelectMethod::Moderate => {
            ranked.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
            ranked.truncate(keep);
        }
        SelectMethod::Random => {
            let seed = context.seed.unwrap_or_default();
            ranked.sort_by_key(|&row| random_rank(seed, row));
            ranked.truncate(keep);
        }
    }
    ranked.sort_unstable();

    let indices: Vec<u32> = ranked.iter().map(|&row| row as u32).collect();
    let summary = json!({"kept": indices.len(), "training_rows": training.len()});
    Ok(StageOutput {
        tensors: vec![
            Tensor::from_u32("indices", vec![indices.len()], &indices)?,
            Tensor::from_f32("scores", vec![rows], &scores)?,
        ],
        summary,
    })
}

/// Reads the embed `features` [N, D] as a flat row-major vector and D.
pub(crate) fn features(context: &StageContext<'_>) -> Result<(Vec<f32>, usize), StageError> {
    let tensor = context.tensor(Stage::Embed, "features")?;
    if tensor.shape.len() != 2 {
        return Err(context.invalid_input(format!(
            "embed tensor `features` has shape {:?}, expected [N, D]",
            tensor.shape
        )));
    }
    let dimensions = tensor.shape[1];
    Ok((tensor.to_f32()?, dimensions))
}

fn mean_feature(features: &[f32], dimensions: usize, rows: &[usize]) -> Vec<f32> {
    let mut sum = vec![0f64; dimensions];
    for &row in rows {
        for (total, &value) in sum
            .iter_mut()
            .zip(&features[row * dimensions..(row + 1) * dimensions])
        {
            *total += f64::from(value);
        }
    }
    sum.iter()
        .map(|total| (total / rows.len() as f64) as f32)
        .collect()
}

pub(crate) fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt() as f32
}

fn random_rank(seed: u64, row: usize) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(&(row as u64).to_le_bytes());
    *hasher.finalize().as_bytes()
}
