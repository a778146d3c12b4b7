//! Final training stage: weight broadcast, weighted ERM and evaluation.
//!
//! The crate is pure: it reads slices and configs and returns values.

pub mod broadcast;
pub mod erm;
pub mod metrics;
pub mod neighbors;
