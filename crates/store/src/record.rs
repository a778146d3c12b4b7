//! Stage records: `stages/<stage>/<key>.json`, written after the object they
//! name, so a record always points at an object that was complete when the
//! record was written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::Digest;

/// What one stage run with a given cache key produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRecord {
    pub stage: String,
    /// The cache key, also the record's file name.
    pub key: Digest,
    /// The output object.
    pub object: Digest,
    /// The input hashes that entered the key, by name.
    pub inputs: BTreeMap<String, Digest>,
    /// The canonical config section that entered the key.
    pub config: Value,
    pub seed: Option<u64>,
    pub format_version: u32,
    pub crate_version: String,
    /// Seconds the run took, from computing the key to writing the object.
    pub wall_seconds: f64,
}
