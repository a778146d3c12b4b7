//! Errors of the reweight crate; each variant carries the value that was wrong.

use cwerm_learners::LearnerError;

/// Errors raised by Meta-Weight-Net and by the input checks before it runs.
#[derive(Debug, thiserror::Error)]
pub enum ReweightError {
    #[error(transparent)]
    Learner(#[from] LearnerError),

    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("the coreset is empty; select at least one training row")]
    EmptyCoreset,

    #[error(
        "the meta set is empty; Meta-Weight-Net needs trusted meta rows (split 1) or `meta = \"coreset\"`"
    )]
    EmptyMetaSet,

    #[error(
        "coreset class {class} has no row in the meta set (meta classes: {meta_classes:?}); add meta rows of that class"
    )]
    ClassMissingFromMetaSet { class: u32, meta_classes: Vec<u32> },

    #[error(
        "coreset class {class} has {rows} row, too few to carve a meta part out of it and still train on it"
    )]
    ClassTooSmallToCarve { class: u32, rows: usize },

    #[error("row {row} is out of range: the features have {rows} rows")]
    RowOutOfRange { row: u32, rows: usize },

    #[error("row {row} appears twice in the {set}")]
    DuplicateRow { row: u32, set: &'static str },

    #[error(
        "row {row} is in both the coreset and the meta set; the meta set must stay disjoint from the rows trained on"
    )]
    MetaOverlapsCoreset { row: u32 },

    #[error("label {label} of row {row} is out of range for {classes} classes")]
    LabelOutOfRange {
        row: u32,
        label: u32,
        classes: usize,
    },

    #[error("expected {expected} labels (one per feature row), found {found}")]
    LabelCount { expected: usize, found: usize },

    #[error("invalid {name} {value}: it must be {expected}")]
    InvalidSetting {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },

    #[error("non-finite {what} at epoch {epoch}, step {step}; lower `lr` or `meta_lr`")]
    NonFiniteLoss {
        what: &'static str,
        epoch: usize,
        step: usize,
    },

    #[error("non-finite loss of row {row} under the final learner; lower `lr` or `meta_lr`")]
    NonFiniteFinalLoss { row: u32 },
}
