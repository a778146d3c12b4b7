//! Prepare body: read the data set, split it, add label noise or imbalance.
//!
//! Output tensors, N rows in the reader's order (training rows, then test):
//! `images` u8 [N, H, W, C]; `labels` (observed, after noise) and
//! `clean_labels` u32 [N]; `split` u8 [N] (0 train, 1 meta, 2 test).

use cwerm_config::Stage;
use cwerm_store::{Digest, Tensor};
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;

/// Version of the prepare object layout.
pub const FORMAT_VERSION: u32 = 2;

/// Builds the prepare object with the `prepare.format` reader.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let config = &context.pipeline.prepare;
    let prepared = cwerm_data::prepare(config)
        .map_err(|error| StageError::algorithm(Stage::Prepare, error))?;
    check_sources_unchanged(context)?;

    let summary = &prepared.summary;
    tracing::info!(
        train = summary.train,
        meta = summary.meta,
        test = summary.test,
        flipped = summary.flipped,
        "prepare: realised noise rate {:.4} on the training split ({} noise, requested {})",
        summary.realised_noise_rate,
        serde_json::to_value(config.noise)
            .unwrap_or_default()
            .as_str()
            .unwrap_or("unknown"),
        config.noise_rate
    );

    let rows = prepared.len();
    let summary = json!({
        "rows": rows,
        "image_shape": prepared.image_shape(),
        "num_classes": prepared.num_classes,
        "class_names": prepared.class_names,
        "splits": prepared.summary,
        "realised_noise_rate": prepared.summary.realised_noise_rate,
    });
    let shape = prepared.image_shape().to_vec();
    let tensors = vec![
        Tensor::from_u8("images", shape, prepared.images)?,
        Tensor::from_u32("labels", vec![rows], &prepared.labels)?,
        Tensor::from_u32("clean_labels", vec![rows], &prepared.clean_labels)?,
        Tensor::from_u8("split", vec![rows], prepared.split)?,
    ];
    Ok(StageOutput { tensors, summary })
}

/// Rejects a run whose source files changed after the key was computed from
/// their hashes, because the object would be stored under a key that does
/// not describe it.
fn check_sources_unchanged(context: &StageContext<'_>) -> Result<(), StageError> {
    for source in context.sources {
        if Digest::of_file(&source.path)? != source.hash {
            return Err(StageError::SourceChanged {
                stage: context.stage,
                path: source.path.clone(),
            });
        }
    }
    Ok(())
}
