//! Pipeline file errors, each a single line naming the file and the key or line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read pipeline file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// Invalid TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "{path}: missing section [{section}]; every pipeline lists all five stage sections, an empty one takes the defaults"
    )]
    MissingSection { path: PathBuf, section: String },

    #[error("{path}: invalid value for `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}
