//! Errors of the encoder crate: each variant carries the file, key, offset or
//! value that was wrong, and the weights errors name the command that fetches them.

use std::path::PathBuf;

/// The command that downloads the EfficientNet-Lite0 checkpoint and converts it
/// to safetensors.
pub const FETCH_WEIGHTS_COMMAND: &str = "scripts/fetch-weights.sh";

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "{path}: weights file not found; run `{FETCH_WEIGHTS_COMMAND}` to download and convert it"
    )]
    MissingWeights { path: PathBuf },

    /// The legacy torch checkpoint is malformed or not the expected format.
    #[error("{path}: invalid torch checkpoint at byte {offset}: {reason}")]
    Checkpoint {
        path: PathBuf,
        offset: u64,
        reason: String,
    },

    /// The checkpoint parsed, but its tensor or value counts are not the expected ones.
    #[error(
        "{path}: expected {expected_tensors} tensors with {expected_values} values after dropping `num_batches_tracked`, found {found_tensors} tensors with {found_values} values"
    )]
    CheckpointCounts {
        path: PathBuf,
        expected_tensors: usize,
        expected_values: u64,
        found_tensors: usize,
        found_values: u64,
    },

    #[error("{path}: invalid safetensors file: {reason}; rerun `{FETCH_WEIGHTS_COMMAND}`")]
    Safetensors { path: PathBuf, reason: String },

    #[error(
        "{path}: missing tensor `{key}` (expected shape {expected:?}); rerun `{FETCH_WEIGHTS_COMMAND}`"
    )]
    MissingKey {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
    },

    #[error(
        "{path}: tensor `{key}` has shape {found:?}, expected {expected:?}; rerun `{FETCH_WEIGHTS_COMMAND}`"
    )]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error(
        "{path}: tensor `{key}` has dtype {found}, expected F32; rerun `{FETCH_WEIGHTS_COMMAND}`"
    )]
    DtypeMismatch {
        path: PathBuf,
        key: String,
        found: String,
    },

    #[error("invalid encoder resolution {resolution}: must be at least {minimum} pixels")]
    Resolution { resolution: u32, minimum: u32 },

    #[error("invalid batch size {batch_size}: must be at least 1")]
    BatchSize { batch_size: usize },

    #[error(
        "images have {channels} channels; the encoder accepts grey (1 channel) or RGB (3 channels)"
    )]
    Channels { channels: usize },

    #[error("invalid image shape {height}x{width}x{channels}: every side must be at least 1")]
    EmptyImage {
        height: usize,
        width: usize,
        channels: usize,
    },

    /// The image buffer length is not a whole number of images of the encoder's shape.
    #[error(
        "image buffer of {len} bytes is not a whole number of {height}x{width}x{channels} images"
    )]
    ImageBuffer {
        len: usize,
        height: usize,
        width: usize,
        channels: usize,
    },

    #[error("row range {start}..{end} is outside the {rows} images")]
    RowRange {
        start: usize,
        end: usize,
        rows: usize,
    },

    #[error("invalid shard {index}/{count}: the count must be at least 1 and the index below it")]
    Shard { index: usize, count: usize },

    #[error("reference network failed: {0}")]
    Candle(#[from] candle_core::Error),
}
