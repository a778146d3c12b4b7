//! Stage errors: one line each, naming the file, key or value and the fix.

use std::path::PathBuf;

use cwerm_config::{ConfigError, Stage};
use cwerm_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A config value that parses but cannot be used, such as a path that
    /// does not exist.
    #[error("{pipeline}: invalid value for `{key}` ({value}): {message}")]
    InvalidSetting {
        pipeline: PathBuf,
        key: &'static str,
        value: String,
        message: String,
    },

    #[error("missing {stage} artifact for {pipeline}; run `cwerm run {pipeline} --until {stage}`")]
    MissingUpstream { stage: Stage, pipeline: PathBuf },

    /// A stored object or record that failed verification; it is never used.
    #[error("{source}; rebuild it with `cwerm run {pipeline} --force {stage}`")]
    Corrupt {
        stage: Stage,
        pipeline: PathBuf,
        source: StoreError,
    },

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{path}: source file changed while {stage} was reading it; run the stage again")]
    SourceChanged { stage: Stage, path: PathBuf },

    /// Upstream data that a stage body cannot work with.
    #[error("{stage}: {message}")]
    InvalidInput { stage: Stage, message: String },

    /// An error from the algorithm behind a stage body.
    #[error("{stage} failed: {source}")]
    Algorithm {
        stage: Stage,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StageError {
    /// Returns the process exit code: 2 for pipeline file errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            StageError::Config(_) | StageError::InvalidSetting { .. } => 2,
            _ => 1,
        }
    }

    /// Wraps an algorithm crate's error.
    pub fn algorithm(
        stage: Stage,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StageError {
        StageError::Algorithm {
            stage,
            source: Box::new(source),
        }
    }
}
