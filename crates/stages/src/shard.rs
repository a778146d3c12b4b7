//! Sharded embedding: `cwerm-embed --shard k/n` embeds one slice of the
//! prepare rows, and `cwerm embed-merge` joins the n slices into the object
//! an unsharded run writes, byte for byte.
//!
//! A shard's object contains `features` f32 [rows of the slice, D]; its location
//! goes into `stages/embed/<key>.shard-<k>-of-<n>.json` beside the embed
//! record, keyed by the same embed cache key. Shard k (0-based) covers rows
//! `k * N / n .. (k + 1) * N / n`, so the indices of a Slurm job array or a
//! Kubernetes indexed Job map to it directly.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use cwerm_config::{Pipeline, Stage};
use cwerm_store::{Digest, Provenance, Store, encode_object};
use serde::{Deserialize, Serialize};

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;
use crate::execute::{StageRun, require_upstream, run_stage_with, stage_names};
use crate::planner::{Planner, status_line};

/// Shard `index` of `count`, written `k/n` on the command line with `k` in `0..n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let invalid = || format!("invalid shard `{text}`: expected k/n with 0 <= k < n, e.g. 0/3");
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = index.trim().parse().map_err(|_| invalid())?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        if count == 0 || index >= count {
            return Err(invalid());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    fn side_file_kind(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// Rows `index * N / count .. (index + 1) * N / count` of `total` rows.
    pub fn rows(self, total: usize) -> Result<std::ops::Range<usize>, StageError> {
        cwerm_encoder::shard_rows(total, self.index, self.count)
            .map_err(|error| StageError::algorithm(Stage::Embed, error))
    }
}

/// The side file that locates one shard's object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ShardRecord {
    object: Digest,
    start: usize,
    end: usize,
    total_rows: usize,
    wall_seconds: f64,
}

/// The outcome of one shard run.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRun {
    pub shard: Shard,
    pub ran: bool,
    pub object: Digest,
    pub wall_seconds: f64,
}

impl ShardRun {
    pub fn line(&self) -> String {
        let word = if self.ran { "ran" } else { "cached" };
        format!(
            "{}  (shard {})",
            status_line(
                word,
                Stage::Embed,
                Some(&self.object),
                Some(self.wall_seconds)
            ),
            self.shard
        )
    }
}

/// Embeds the rows of one shard and records its object beside the embed key.
pub fn run_embed_shard(
    pipeline_path: &Path,
    pipeline: &Pipeline,
    store: &Store,
    shard: Shard,
    force: bool,
) -> Result<ShardRun, StageError> {
    let start = Instant::now();
    store.clean_temps(&stage_names())?;
    let mut planner = Planner::new(pipeline_path, pipeline, store);
    require_upstream(&mut planner, pipeline_path, Stage::Embed)?;
    let key = planner.key(Stage::Embed)?;

    let kind = shard.side_file_kind();
    let cached = if force {
        None
    } else {
        read_shard_record(store, &key.digest, &kind)?
            .filter(|record| store.read_object(&record.object).is_ok())
    };
    if let Some(record) = cached {
        return Ok(ShardRun {
            shard,
            ran: false,
            object: record.object,
            wall_seconds: record.wall_seconds,
        });
    }

    let context = StageContext::new(
        Stage::Embed,
        pipeline,
        pipeline_path,
        None,
        &[],
        planner.objects(),
    );
    let total_rows = crate::embed::prepare_rows(&context)?;
    let rows = shard.rows(total_rows)?;
    let output = crate::embed::run_rows(&context, rows.clone())?;
    let provenance = Provenance {
        stage: format!("{}-{kind}", Stage::Embed.name()),
        format_version: key.format_version,
        config: key.config.clone(),
        inputs: key.inputs.iter().cloned().collect(),
        seed: key.seed,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        summary: output.summary.clone(),
    };
    let object = store.put_object(&encode_object(&output.tensors, &provenance)?)?;

    let wall_seconds = start.elapsed().as_secs_f64();
    let record = ShardRecord {
        object,
        start: rows.start,
        end: rows.end,
        total_rows,
        wall_seconds,
    };
    let value = serde_json::to_value(&record).expect("a shard record serialises");
    store.write_side_file(Stage::Embed.name(), &key.digest, &kind, &value)?;
    Ok(ShardRun {
        shard,
        ran: true,
        object,
        wall_seconds,
    })
}

/// Joins the `count` shards of the embed key into the embed object and record.
pub fn merge_embed_shards(
    pipeline_path: &Path,
    pipeline: &Pipeline,
    store: &Store,
    count: usize,
    force: bool,
) -> Result<StageRun, StageError> {
    if count == 0 {
        return Err(StageError::InvalidInput {
            stage: Stage::Embed,
            message: "expected at least 1 shard, found 0".into(),
        });
    }
    let mut planner = Planner::new(pipeline_path, pipeline, store);
    require_upstream(&mut planner, pipeline_path, Stage::Embed)?;
    let key = planner.key(Stage::Embed)?.digest;

    let body = |context: &StageContext<'_>| -> Result<StageOutput, StageError> {
        let total_rows = crate::embed::prepare_rows(context)?;
        let mut features = Vec::new();
        let mut dim = None;
        for index in 0..count {
            let shard = Shard { index, count };
            let shard_features =
                read_shard(context, store, &key, shard, pipeline_path, total_rows)?;
            let (shard_dim, values) = shard_features;
            if dim.is_some_and(|dim| dim != shard_dim) {
                return Err(context.invalid_input(format!(
                    "shard {shard} has {shard_dim} features per row, the earlier shards {}",
                    dim.unwrap_or_default()
                )));
            }
            dim = Some(shard_dim);
            features.extend_from_slice(&values);
        }
        crate::embed::output(context, total_rows, dim.unwrap_or_default(), features)
    };
    run_stage_with(pipeline_path, pipeline, store, Stage::Embed, force, &body)
}

/// Reads and checks one shard's features: `(D, values [rows, D])`.
fn read_shard(
    context: &StageContext<'_>,
    store: &Store,
    key: &Digest,
    shard: Shard,
    pipeline_path: &Path,
    total_rows: usize,
) -> Result<(usize, Vec<f32>), StageError> {
    let kind = shard.side_file_kind();
    let missing = || {
        context.invalid_input(format!(
            "shard {shard} is missing; run `cwerm-embed --pipeline {} --shard {shard}`",
            pipeline_path.display()
        ))
    };
    let record = read_shard_record(store, key, &kind)?.ok_or_else(missing)?;
    let expected = shard.rows(total_rows)?;
    if (record.start, record.end, record.total_rows) != (expected.start, expected.end, total_rows) {
        return Err(context.invalid_input(format!(
            "shard {shard} covers rows {}..{} of {}, expected {}..{} of {total_rows}",
            record.start, record.end, record.total_rows, expected.start, expected.end
        )));
    }

    let object = store
        .read_object(&record.object)
        .map_err(|source| StageError::Corrupt {
            stage: Stage::Embed,
            pipeline: pipeline_path.to_path_buf(),
            source,
        })?;
    let tensor = object.tensor("features")?;
    let [rows, dim] = tensor.shape[..] else {
        return Err(context.invalid_input(format!(
            "shard {shard} tensor `features` has shape {:?}, expected [rows, D]",
            tensor.shape
        )));
    };
    if rows != expected.len() {
        return Err(context.invalid_input(format!(
            "shard {shard} holds {rows} rows, expected {}",
            expected.len()
        )));
    }
    Ok((dim, tensor.to_f32()?))
}

fn read_shard_record(
    store: &Store,
    key: &Digest,
    kind: &str,
) -> Result<Option<ShardRecord>, StageError> {
    let path = store.side_file_path(Stage::Embed.name(), key, kind);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(cwerm_store::StoreError::Io {
                operation: "read shard record",
                path,
                source,
            }
            .into());
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| StageError::InvalidInput {
            stage: Stage::Embed,
            message: format!(
                "{}: invalid shard record: {error}; rerun that shard",
                path.display()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_zero_based_index() {
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        for bad in ["3/3", "0/0", "1", "a/3", "-1/3"] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn shard_rows_cover_all_rows_once() {
        let rows: Vec<_> = (0..3)
            .map(|index| Shard { index, count: 3 }.rows(10).unwrap())
            .collect();
        assert_eq!(rows, vec![0..3, 3..6, 6..10]);
    }
}
