//! Data sets for cwerm: readers, the stratified subset, the trusted meta
//! hold-out, long-tail imbalance and seeded label noise.
//!
//! Readers: IDX (MNIST, Fashion-MNIST; raw or gzip), the CIFAR-10 and
//! CIFAR-100 binary versions, a folder of class sub-folders of PNG or JPEG
//! images, and a prepared safetensors artifact of this project. Each returns
//! u8 images `[N, H, W, C]` and u32 labels `[N]` for a train and a test split.
//!
//! [`prepare`] reads a data set and applies, in order: the subset, the meta
//! hold-out, the imbalance and the noise. The crate is pure: it reads source
//! files and returns in-memory data, and never writes an artifact.

mod cifar;
mod dataset;
mod error;
mod folder;
mod idx;
mod noise;
mod prepare;
mod prepared;
mod resize;
mod rng;
mod splits;

pub use dataset::{
    LabelledImages, PrepareSummary, Prepared, RawDataset, SPLIT_META, SPLIT_TEST, SPLIT_TRAIN,
};
pub use error::DataError;
pub use prepare::{prepare, prepare_from, read, source_files};
pub use splits::imbalance_counts;
