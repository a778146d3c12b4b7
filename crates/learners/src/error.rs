//! Errors of the learners crate; each variant carries the value that was wrong.

/// Errors raised while building, running or loading a learner or meta-net.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("invalid {what}: expected {expected}, found {found}")]
    InvalidSize {
        what: &'static str,
        expected: String,
        found: usize,
    },

    #[error("missing parameter `{name}` among the saved tensors (found: {found})")]
    MissingParameter { name: String, found: String },

    #[error("parameter `{name}` has shape {found:?}, expected {expected}")]
    ShapeMismatch {
        name: String,
        expected: String,
        found: Vec<usize>,
    },

    #[error("expected {expected} parameter tensors, found {found}")]
    ParameterCount { expected: usize, found: usize },

    #[error("invalid learning rate {0}: it must be finite and positive")]
    InvalidLearningRate(f64),

    #[error("invalid {name} {value}: it must be finite and in {range}")]
    InvalidHyperparameter {
        name: &'static str,
        value: f64,
        range: &'static str,
    },

    #[error(
        "cannot infer the learner from saved tensors named {found}; expected `learner.w`/`learner.b` (linear) or `learner.w1`..`learner.b2` (mlp)"
    )]
    UnknownLearner { found: String },
}
