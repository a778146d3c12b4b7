//! Comparison reports: the method table (Markdown and CSV) aggregated over
//! seeds, and SVG plots of the learned weights.
//!
//! Pure: the caller collects one [`RunResult`] per method and seed, and this
//! crate turns them into text and pictures. It never opens the artifact store.

mod plots;
mod summary;
mod table;

pub use plots::{WeightCurve, plot_weight_curves, plot_weight_histogram};
pub use summary::{MethodSummary, RunResult, Stat, summarize};
pub use table::{runs_to_csv, to_csv, to_markdown};

/// Errors of the report writers.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot draw {path}: {message}")]
    Plot { path: String, message: String },
}
