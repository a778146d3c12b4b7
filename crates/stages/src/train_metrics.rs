//! The train stage's metrics: test accuracy, per-class accuracy, the
//! confusion matrix, meta-set accuracy, and how the weights of the rows
//! trained on separate clean from flipped labels.
//!
//! The result is the train summary JSON, written into the train object's
//! metadata and into `stages/train/<key>.metrics.json`.

use cwerm_config::Broadcast;
use cwerm_train::broadcast::BroadcastWeights;
use cwerm_train::metrics::{
    ConfusionMatrix, MetricsError, WeightSummary, accuracy, weights_by_noise,
};
use serde_json::{Value, json};

use crate::upstream::PreparedLabels;

/// Everything the metrics are computed from.
pub struct Evaluation<'a> {
    pub prepared: &'a PreparedLabels,
    /// Rows trained on `[T]`.
    pub targets: &'a [u32],
    /// Their weights `[T]` and how the broadcast filled them.
    pub spread: &'a BroadcastWeights,
    pub test_rows: &'a [u32],
    pub test_predictions: &'a [u32],
    pub meta_rows: &'a [u32],
    pub meta_predictions: &'a [u32],
    pub epoch_losses: &'a [f64],
    pub broadcast: Broadcast,
}

/// Computes the train summary JSON.
pub fn evaluate(evaluation: &Evaluation<'_>) -> Result<Value, MetricsError> {
    let prepared = evaluation.prepared;
    let labels_of = |rows: &[u32], labels: &[u32]| -> Vec<u32> {
        rows.iter().map(|&row| labels[row as usize]).collect()
    };

    let test_truth = labels_of(evaluation.test_rows, &prepared.clean_labels);
    let confusion = ConfusionMatrix::new(
        evaluation.test_predictions,
        &test_truth,
        prepared.num_classes,
    )?;
    let classes = confusion.num_classes();
    let confusion_rows: Vec<Vec<u64>> = (0..classes)
        .map(|truth| {
            (0..classes)
                .map(|predicted| confusion.count(truth, predicted))
                .collect()
        })
        .collect();
    let meta_truth = labels_of(evaluation.meta_rows, &prepared.clean_labels);
    let meta_accuracy = if meta_truth.is_empty() {
        None
    } else {
        Some(accuracy(evaluation.meta_predictions, &meta_truth)?)
    };

    let observed = labels_of(evaluation.targets, &prepared.labels);
    let clean = labels_of(evaluation.targets, &prepared.clean_labels);
    let by_noise = weights_by_noise(&evaluation.spread.weights, &observed, &clean)?;
    let test_accuracy = confusion.accuracy();
    tracing::info!(
        "train: test accuracy {:.2}% on {} rows, meta accuracy {}",
        100.0 * test_accuracy,
        test_truth.len(),
        meta_accuracy.map_or("n/a".into(), |value| format!("{:.2}%", 100.0 * value))
    );

    Ok(json!({
        "test_accuracy": test_accuracy,
        "test_rows": test_truth.len(),
        "per_class_accuracy": confusion.per_class_accuracy(),
        "confusion": confusion_rows,
        "meta_accuracy": meta_accuracy,
        "train_rows": evaluation.targets.len(),
        "flipped_rows": observed.iter().zip(&clean).filter(|(o, c)| o != c).count(),
        "auroc_flipped": by_noise.auroc,
        "mean_weight_clean": by_noise.clean.as_ref().map(|summary| summary.mean),
        "mean_weight_flipped": by_noise.flipped.as_ref().map(|summary| summary.mean),
        "weights": weight_json(&by_noise.all),
        "weights_clean": by_noise.clean.as_ref().map(weight_json),
        "weights_flipped": by_noise.flipped.as_ref().map(weight_json),
        "broadcast": {
            "rule": evaluation.broadcast,
            "own": evaluation.spread.own,
            "filled": evaluation.spread.filled,
            "fallback_rows": evaluation.spread.fallback_rows,
        },
        "epoch_losses": evaluation.epoch_losses,
    }))
}

fn weight_json(summary: &WeightSummary) -> Value {
    json!({
        "count": summary.count,
        "mean": summary.mean,
        "std": summary.std,
        "min": summary.min,
        "max": summary.max,
        "quantiles_5_25_50_75_95": summary.quantiles,
    })
}
