//! Errors of the readers and of the split, imbalance and noise steps.
//!
//! Each variant carries the bad value: the file, the byte offset or record
//! where it applies, what was expected and what was found. Messages are one
//! line, so a stage binary can print them as they are.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: failed to {operation}: {source}", path.display())]
    Io {
        path: PathBuf,
        operation: &'static str,
        source: std::io::Error,
    },

    /// The folder does not have the file layout that the format expects.
    #[error("{}: unknown layout: expected {expected}, found {found}", path.display())]
    Layout {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// The first four bytes of an IDX file are not a supported magic number.
    #[error(
        "{}: invalid IDX magic at offset 0: expected {expected}, found {found:02x?}",
        path.display()
    )]
    IdxMagic {
        path: PathBuf,
        expected: &'static str,
        found: [u8; 4],
    },

    /// The dimensions of an IDX header multiply to more bytes than a file can hold.
    #[error(
        "{}: IDX header declares dimensions {dimensions:?}, whose byte size overflows or exceeds the {limit} byte limit",
        path.display()
    )]
    IdxTooLarge {
        path: PathBuf,
        dimensions: Vec<u32>,
        limit: u64,
    },

    /// The file (after gzip decompression) ends before the size its header or
    /// format declares.
    #[error(
        "{}: truncated at offset {found}: expected {expected} bytes ({what})",
        path.display()
    )]
    Truncated {
        path: PathBuf,
        what: String,
        expected: u64,
        found: u64,
    },

    /// The file contains more bytes than its header declares.
    #[error(
        "{}: {found} bytes, expected exactly {expected} bytes ({what})",
        path.display()
    )]
    TrailingBytes {
        path: PathBuf,
        what: String,
        expected: u64,
        found: u64,
    },

    #[error("{}: failed to decompress gzip data: {source}", path.display())]
    Gzip {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An image file and its label file describe different example counts.
    #[error(
        "{}: {labels} labels, expected one per image of {} ({images} images)",
        labels_path.display(),
        images_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: u64,
        labels: u64,
    },

    /// A CIFAR binary file whose size is not a whole number of records.
    #[error(
        "{}: size {size} bytes is not a positive multiple of the {record_bytes} byte record",
        path.display()
    )]
    RecordSize {
        path: PathBuf,
        size: u64,
        record_bytes: u64,
    },

    #[error(
        "{}: record {record} (offset {offset}): label {label} out of range, expected a {kind} label below {num_classes}",
        path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        record: u64,
        offset: u64,
        kind: &'static str,
        label: u64,
        num_classes: u64,
    },

    /// Images of one data set whose height, width or channels differ.
    #[error("{}: image shape {found}, expected {expected}{hint}", path.display())]
    ShapeMismatch {
        path: PathBuf,
        expected: String,
        found: String,
        hint: &'static str,
    },

    #[error("{}: failed to decode image: {source}", path.display())]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },

    #[error("{}: class folder contains no images, expected at least one PNG or JPEG file", path.display())]
    EmptyClass { path: PathBuf },

    /// A safetensors file that is not a prepared artifact of this project.
    #[error("{}: invalid prepared safetensors file: {message}", path.display())]
    Safetensors { path: PathBuf, message: String },

    #[error("{}: tensor `{name}`: expected {expected}, found {found}", path.display())]
    Tensor {
        path: PathBuf,
        name: &'static str,
        expected: String,
        found: String,
    },

    /// A `[prepare]` value out of its range, for callers that skip the
    /// pipeline file validation.
    #[error("invalid prepare.{key}: expected {expected}, found {found}")]
    InvalidConfig {
        key: &'static str,
        expected: &'static str,
        found: String,
    },

    /// A [`crate::RawDataset`] built by a caller whose parts disagree.
    #[error("invalid data set: expected {expected}, found {found}")]
    InvalidDataset { expected: String, found: String },

    /// A per-class count that exceeds the rows of a class. `requested`
    /// includes the one training row that the meta hold-out must leave.
    #[error(
        "prepare.{key}: {requested} rows needed, but class {class} (`{class_name}`) has only {available} {split} rows; lower prepare.{key}"
    )]
    NotEnoughRows {
        key: &'static str,
        requested: u64,
        split: &'static str,
        class: u32,
        class_name: String,
        available: u64,
    },
}

impl DataError {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        operation: &'static str,
    ) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io {
            path,
            operation,
            source,
        }
    }
}
