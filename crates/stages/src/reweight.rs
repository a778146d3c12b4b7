//! Reweight body: learn a weight for every coreset example with
//! Meta-Weight-Net, or weight 1 with `method = "uniform"`.
//!
//! Inputs: prepare labels and splits, embed `features` [N, D], select
//! `indices` [M]. Outputs:
//! - `indices` u32 [M'] ascending, the rows trained on;
//! - `coreset_weights` f32 [M'] in (0, 1) and `losses` f32 [M'], the rows'
//!   final per-example losses;
//! - `meta_indices` u32, the meta rows used;
//! - the learner (`learner.*`) and meta-net (`meta_net.*`) parameters;
//! - per-epoch curves `curves.<name>` f32 [epochs].

use cwerm_config::Stage;
use cwerm_reweight::{ReweightInput, ReweightOutput, reweight};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::convert::{to_candle, to_store};
use crate::error::StageError;
use crate::upstream::{Features, PreparedLabels};

/// Version of the reweight object layout.
pub const FORMAT_VERSION: u32 = 2;

/// Weights the coreset rows.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let prepared = PreparedLabels::read(context)?;
    let features = Features::read(context, prepared.rows())?;
    let coreset = context.tensor(Stage::Select, "indices")?.to_u32()?;
    let meta = prepared.rows_of_split(cwerm_data::SPLIT_META);
    let features = to_candle(
        Stage::Reweight,
        features.values,
        &[prepared.rows(), features.dim],
    )?;

    let input = ReweightInput {
        features: &features,
        labels: &prepared.labels,
        clean_labels: Some(&prepared.clean_labels),
        coreset: &coreset,
        meta: &meta,
        classes: prepared.num_classes,
    };
    let config = &context.pipeline.reweight;
    let output = reweight(&input, config, context.seed.unwrap_or(0))
        .map_err(|error| StageError::algorithm(Stage::Reweight, error))?;
    log_outcome(&output);

    Ok(StageOutput {
        tensors: tensors(&output)?,
        summary: summary(&output),
    })
}

fn log_outcome(output: &ReweightOutput) {
    let diagnostics = &output.diagnostics;
    let auroc = diagnostics
        .auroc_flipped
        .map_or("n/a".to_string(), |auroc| format!("{auroc:.3}"));
    let split = match (diagnostics.clean_weight, diagnostics.flipped_weight) {
        (Some(clean), Some(flipped)) => format!(", clean {clean:.3} vs flipped {flipped:.3}"),
        _ => String::new(),
    };
    tracing::info!(
        "reweight: {} rows, mean weight {:.3}{split}, AUROC of 1 - weight for flipped labels {auroc}",
        output.indices.len(),
        diagnostics.mean_weight
    );
}

fn tensors(output: &ReweightOutput) -> Result<Vec<Tensor>, StageError> {
    let rows = output.indices.len();
    let mut tensors = vec![
        Tensor::from_u32("indices", vec![rows], &output.indices)?,
        Tensor::from_f32("coreset_weights", vec![rows], &output.weights)?,
        Tensor::from_u32(
            "meta_indices",
            vec![output.meta_indices.len()],
            &output.meta_indices,
        )?,
    ];
    if !output.losses.is_empty() {
        tensors.push(Tensor::from_f32("losses", vec![rows], &output.losses)?);
    }
    for (name, tensor) in output.learner.iter().chain(&output.meta_net) {
        tensors.push(to_store(Stage::Reweight, name, tensor)?);
    }

    let curves = &output.curves;
    if !curves.is_empty() {
        let curve = |name: &str, values: Vec<f64>| {
            let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            Tensor::from_f32(format!("curves.{name}"), vec![values.len()], &values)
        };
        tensors.push(curve(
            "train_loss",
            curves.iter().map(|c| c.train_loss).collect(),
        )?);
        tensors.push(curve(
            "meta_loss",
            curves.iter().map(|c| c.meta_loss).collect(),
        )?);
        tensors.push(curve(
            "mean_weight",
            curves.iter().map(|c| c.mean_weight).collect(),
        )?);
        let clean: Option<Vec<f64>> = curves.iter().map(|c| c.clean_weight).collect();
        let flipped: Option<Vec<f64>> = curves.iter().map(|c| c.flipped_weight).collect();
        if let (Some(clean), Some(flipped)) = (clean, flipped) {
            tensors.push(curve("clean_weight", clean)?);
            tensors.push(curve("flipped_weight", flipped)?);
        }
    }
    Ok(tensors)
}

fn summary(output: &ReweightOutput) -> serde_json::Value {
    let diagnostics = &output.diagnostics;
    json!({
        "rows": output.indices.len(),
        "meta_rows": output.meta_indices.len(),
        "epochs": output.curves.len(),
        "seed_used": diagnostics.seed,
        "attempts": diagnostics.attempts,
        "mean_weight": diagnostics.mean_weight,
        "weight_std": diagnostics.weight_std,
        "spearman_weight_loss": diagnostics.spearman,
        "slope_weight_loss": diagnostics.slope,
        "inverted": diagnostics.inverted,
        "collapsed": diagnostics.collapsed,
        "auroc_flipped": diagnostics.auroc_flipped,
        "mean_weight_clean": diagnostics.clean_weight,
        "mean_weight_flipped": diagnostics.flipped_weight,
        "warnings": diagnostics.warnings,
        "final_meta_loss": output.curves.last().map(|c| c.meta_loss),
    })
}
