//! Meta-Weight-Net (Shu et al., "Meta-Weight-Net: Learning an Explicit Mapping
//! For Sample Weighting", NeurIPS 2019) trained on a coreset, with the
//! meta-gradient taken by a central finite difference instead of second-order
//! autodiff, so any [`cwerm_learners::Learner`] works.
//!
//! [`reweight`] is the stage as a pure function: features `[N, D]`, labels,
//! coreset and meta rows in; per-row weights in (0, 1), the trained meta-net
//! and learner, per-epoch curves and diagnostics out. `method = "uniform"`
//! gives every coreset row weight 1.

mod batches;
pub mod diagnostics;
mod error;
pub mod meta_gradient;
mod run;
mod step;

pub use batches::{CARVE_FRACTION, carve_meta_from_coreset};
pub use error::ReweightError;
pub use run::{Diagnostics, EpochRecord, ReweightInput, ReweightOutput, reweight};
pub use step::{Batch, MetaGradient, MetaWeightNet, StepRecord, gradients};

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, ReweightError>;
