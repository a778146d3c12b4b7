//! Pipeline files: the TOML contract that says what to run, with every setting.
//!
//! A pipeline file has a top-level `name` and `seed` and one section per
//! stage (`[prepare]`, `[embed]`, `[select]`, `[reweight]`, `[train]`).
//! Every section must be present, but every key inside it has a default.
//! Unknown keys, wrong types and out-of-range values are rejected with a
//! one-line [`ConfigError`] that names the file, the key and what is accepted.

mod error;
mod pipeline;
mod sections;
mod stage;
mod validate;

pub use error::ConfigError;
pub use pipeline::{Pipeline, canonical_json};
pub use sections::*;
pub use stage::Stage;
