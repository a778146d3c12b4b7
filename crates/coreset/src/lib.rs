//! Coreset selection: which training rows Meta-Weight-Net learns weights for.
//!
//! Three methods, chosen by [`cwerm_config::SelectMethod`]:
//! - `moderate` (Xia et al., "Moderate Coreset: A Universal Method of Data
//!   Selection for Real-world Data-efficient Deep Learning", ICLR 2023): per
//!   observed class, keep the rows whose distance to the class's coordinate-wise
//!   median feature vector ranks in the middle of the class;
//! - `random`: a seeded, stratified sample of the same size per class;
//! - `all`: every training row.
//!
//! Input: features f32 `[N, D]` (row-major), observed labels u32 `[N]`, split
//! codes u8 `[N]` (0 train, 1 meta, 2 test) and optionally the clean labels.
//! Output: a [`Selection`] with the kept rows (ascending), the per-row distance
//! to the class prototype `[N]`, per-class sizes and, given clean labels, the
//! share of flipped labels inside and outside the coreset.
//!
//! The crate is pure: it reads slices and a config and returns values.

mod error;
mod moderate;
mod random;
mod select;

pub use error::SelectError;
pub use moderate::{class_quota, median_in_place};
pub use select::{ClassSize, NoiseFractions, SelectInput, Selection, select};
