//! Select body: choose the coreset among the training rows.
//!
//! Inputs: prepare `labels`, `clean_labels`, `split` [N]; embed `features`
//! f32 [N, D]. Outputs: `indices` u32 [M], the ascending prepare rows of the
//! coreset, and `scores` f32 [N]. A score is the distance to the class's
//! median feature vector, or -1 for a row outside the training split.

use cwerm_config::Stage;
use cwerm_coreset::{SelectInput, select};
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;
use crate::upstream::{Features, PreparedLabels};

/// Version of the select object layout.
pub const FORMAT_VERSION: u32 = 2;

/// Chooses the coreset with `select.method` and `select.ratio`.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let prepared = PreparedLabels::read(context)?;
    let features = Features::read(context, prepared.rows())?;
    let input = SelectInput {
        features: &features.values,
        dim: features.dim,
        labels: &prepared.labels,
        split: &prepared.split,
        num_classes: prepared.num_classes,
        clean_labels: Some(&prepared.clean_labels),
    };
    let config = &context.pipeline.select;
    let selection = select(&input, config, context.seed.unwrap_or(0))
        .map_err(|error| StageError::algorithm(Stage::Select, error))?;

    let kept: Vec<usize> = selection.class_sizes.iter().map(|size| size.kept).collect();
    let train: Vec<usize> = selection
        .class_sizes
        .iter()
        .map(|size| size.train)
        .collect();
    tracing::info!(
        "select: coreset of {} rows, per class {kept:?}",
        selection.indices.len()
    );
    if let Some(noise) = &selection.noise {
        tracing::info!(
            "select: flipped labels {:.1}% inside the coreset vs {:.1}% in the training split",
            100.0 * noise.coreset,
            100.0 * noise.train
        );
    }

    let summary = json!({
        "coreset_rows": selection.indices.len(),
        "kept_per_class": kept,
        "train_per_class": train,
        "flipped_fraction_coreset": selection.noise.map(|noise| noise.coreset),
        "flipped_fraction_train": selection.noise.map(|noise| noise.train),
    });
    let rows = prepared.rows();
    let tensors = vec![
        Tensor::from_u32("indices", vec![selection.indices.len()], &selection.indices)?,
        Tensor::from_f32("scores", vec![rows], &selection.scores)?,
    ];
    Ok(StageOutput { tensors, summary })
}
