//! Store errors. Each names the file or value involved.

use std::path::PathBuf;

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {operation} failed: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: object not found")]
    ObjectMissing { path: PathBuf },

    #[error("{path}: content hash is {found}, but the file name says {expected}")]
    HashMismatch {
        path: PathBuf,
        expected: Digest,
        found: Digest,
    },

    #[error("{path}: invalid safetensors object: {message}")]
    InvalidObject { path: PathBuf, message: String },

    #[error("{path}: no tensor `{name}`; the object holds {available}")]
    TensorNotFound {
        path: PathBuf,
        name: String,
        available: String,
    },

    #[error("{path}: tensor `{name}` has dtype {found}, expected {expected}")]
    WrongDtype {
        path: PathBuf,
        name: String,
        expected: String,
        found: String,
    },

    #[error("tensor `{name}`: shape {shape:?} of {dtype} needs {expected} bytes, found {found}")]
    WrongLength {
        name: String,
        dtype: String,
        shape: Vec<usize>,
        expected: usize,
        found: usize,
    },

    #[error("tensor `{name}` appears twice in one object")]
    DuplicateTensor { name: String },

    #[error("cannot serialise the object: {message}")]
    Encode { message: String },

    #[error("{path}: invalid stage record: {message}")]
    InvalidRecord { path: PathBuf, message: String },

    #[error(
        "{path}: record names object {object}, which is not in the store; write the object first"
    )]
    RecordWithoutObject { path: PathBuf, object: Digest },

    #[error("invalid blake3 digest `{text}`: expected 64 lowercase hex digits")]
    InvalidDigest { text: String },
}

impl StoreError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            operation,
            path,
            source,
        }
    }
}
