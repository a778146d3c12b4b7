//! Reweight body: learn a weight for every coreset example.
//!
//! Inputs: select `indices` u32 [M] and `scores` f32 [N].
//! Outputs: `indices` u32 [M'] ascending (the rows weighted) and
//! `coreset_weights` f32 [M'], each in (0, 1].

use cwerm_config::{ReweightMethod, Stage};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;

/// Version of the reweight object layout.
pub const FORMAT_VERSION: u32 = 1;

/// Weights the coreset.
///
/// TODO: placeholder body. Instead of training Meta-Weight-Net, a row's
/// weight is `1 / (1 + score)` from its select score; `uniform` gives 1.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let indices = context.tensor(Stage::Select, "indices")?.to_u32()?;
    let scores = context.tensor(Stage::Select, "scores")?.to_f32()?;

    let mut weights = Vec::with_capacity(indices.len());
    for &row in &indices {
        let score = *scores.get(row as usize).ok_or_else(|| {
            context.invalid_input(format!(
                "select index {row} is out of range for {} scores",
                scores.len()
            ))
        })?;
        let weight = match context.pipeline.reweight.method {
            ReweightMethod::MetaWeightNet => 1.0 / (1.0 + score.max(0.0)),
            ReweightMethod::Uniform => 1.0,
        };
        weights.push(weight);
    }

    let mean_weight = mean(&weights);
    let summary = json!({"rows": indices.len(), "mean_weight": mean_weight});
    Ok(StageOutput {
        tensors: vec![
            Tensor::from_u32("indices", vec![indices.len()], &indices)?,
            Tensor::from_f32("coreset_weights", vec![weights.len()], &weights)?,
        ],
        summary,
    })
}

pub(crate) fn mean(values: &[f32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|&value| f64::from(value)).sum::<f64>() / values.len() as f64
}
