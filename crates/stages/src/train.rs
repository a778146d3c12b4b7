//! Train body: broadcast the coreset weights and fit the final classifier.
//!
//! Inputs: prepare `split` u8 [N], `labels` and `clean_labels` u32 [N]; embed
//! `features` f32 [N, D]; reweight `indices` u32 [M'] and `coreset_weights`
//! f32 [M'].
//! Outputs: `indices` u32 [T] ascending (the rows trained on), `weights` f32
//! [T], `test_predictions` u32 [number of test rows]; metrics in the summary.

use cwerm_config::{Stage, TrainOn};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;
use crate::reweight::mean;
use crate::select::{distance, features};

/// Version of the train object layout.
pub const FORMAT_VERSION: u32 = 1;

/// Trains the final classifier.
///
/// TODO: placeholder body. Every broadcast rule acts as `constant` (rows
/// outside the coreset get the mean coreset weight), and the classifier is
/// 1-nearest-neighbour over the weighted coreset instead of a trained learner.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let split = context.tensor(Stage::Prepare, "split")?;
    let split = split.as_u8()?;
    let labels = context.tensor(Stage::Prepare, "labels")?.to_u32()?;
    let clean_labels = context.tensor(Stage::Prepare, "clean_labels")?.to_u32()?;
    let (features, dimensions) = features(context)?;
    let coreset = context.tensor(Stage::Reweight, "indices")?.to_u32()?;
    let coreset_weights = context
        .tensor(Stage::Reweight, "coreset_weights")?
        .to_f32()?;
    if coreset.is_empty() || coreset.len() != coreset_weights.len() {
        return Err(context.invalid_input(format!(
            "reweight holds {} indices and {} weights, expected the same non-zero count",
            coreset.len(),
            coreset_weights.len()
        )));
    }
    if let Some(&row) = coreset.iter().find(|&&row| row as usize >= split.len()) {
        return Err(context.invalid_input(format!(
            "reweight index {row} is out of range for {} prepare rows",
            split.len()
        )));
    }

    let constant = mean(&coreset_weights) as f32;
    let rows: Vec<u32> = match context.pipeline.train.on {
        TrainOn::All => (0..split.len() as u32)
            .filter(|&row| split[row as usize] == 0)
            .collect(),
        TrainOn::Coreset => coreset.clone(),
    };
    let weights: Vec<f32> = rows
        .iter()
        .map(|row| match coreset.binary_search(row) {
            Ok(position) => coreset_weights[position],
            Err(_) => constant,
        })
        .collect();

    let test_rows: Vec<usize> = (0..split.len()).filter(|&row| split[row] == 2).collect();
    let feature_row = |row: usize| &features[row * dimensions..(row + 1) * dimensions];
    let predictions: Vec<u32> = test_rows
        .iter()
        .map(|&test| {
            let nearest = coreset
                .iter()
                .map(|&row| row as usize)
                .min_by(|&a, &b| {
                    distance(feature_row(test), feature_row(a))
                        .total_cmp(&distance(feature_row(test), feature_row(b)))
                        .then(a.cmp(&b))
                })
                .expect("the coreset is not empty");
            labels[nearest]
        })
        .collect();
    let correct = test_rows
        .iter()
        .zip(&predictions)
        .filter(|&(&row, &predicted)| clean_labels[row] == predicted)
        .count();
    let accuracy = if test_rows.is_empty() {
        None
    } else {
        Some(correct as f64 / test_rows.len() as f64)
    };

    let summary = json!({
        "train_rows": rows.len(),
        "mean_weight": mean(&weights),
        "test_rows": test_rows.len(),
        "test_accuracy": accuracy,
    });
    Ok(StageOutput {
        tensors: vec![
            Tensor::from_u32("indices", vec![rows.len()], &rows)?,
            Tensor::from_f32("weights", vec![weights.len()], &weights)?,
            Tensor::from_u32("test_predictions", vec![predictions.len()], &predictions)?,
        ],
        summary,
    })
}
