//! Planning: each stage's cache key and whether its output is cached, found
//! by walking the records of the upstream stages. Planning reads and verifies
//! objects but never runs a stage and never writes.

use std::collections::BTreeMap;
use std::path::Path;

use cwerm_config::{EncoderKind, Pipeline, Stage};
use cwerm_store::{KeyParts, Object, StageRecord, Store, StoreError, cache_key, canonical_json};
use serde_json::Value;

use crate::error::StageError;
use crate::inputs::{SourceFile, key_inputs, source_files};

/// A stage's cache key and everything that entered it.
#[derive(Clone, Debug, PartialEq)]
pub struct StageKey {
    pub stage: Stage,
    pub digest: cwerm_store::Digest,
    pub format_version: u32,
    /// The canonical config section.
    pub config: Value,
    /// Named input hashes in key order.
    pub inputs: Vec<(String, cwerm_store::Digest)>,
    pub seed: Option<u64>,
}

/// Whether a stage's output for the current pipeline is in the store.
#[derive(Debug)]
pub enum StageState {
    /// A record exists for the key and its object verifies.
    Cached { record: StageRecord },
    /// The key is known and no record exists for it.
    Missing,
    /// The key depends on an upstream stage that is not cached yet.
    Blocked { upstream: Stage },
    /// A record exists but cannot be used: its object is absent or fails
    /// verification, or the record itself is unreadable (`record` is `None`).
    Stale {
        record: Option<StageRecord>,
        problem: StoreError,
    },
}

/// One stage of a plan.
#[derive(Debug)]
pub struct StagePlan {
    pub stage: Stage,
    /// `None` when the stage is blocked.
    pub key: Option<StageKey>,
    pub state: StageState,
}

impl StagePlan {
    /// Formats the status line: state word, stage, object hash prefix and
    /// wall time, plus the reason for a stale or blocked stage.
    pub fn line(&self, pipeline_path: &Path) -> String {
        match &self.state {
            StageState::Cached { record } => status_line(
                "cached",
                self.stage,
                Some(&record.object),
                Some(record.wall_seconds),
            ),
            StageState::Missing => status_line("missing", self.stage, None, None),
            StageState::Blocked { upstream } => format!(
                "{}  (its key needs the {upstream} artifact)",
                status_line("missing", self.stage, None, None)
            ),
            StageState::Stale { record, problem } => format!(
                "{}  ({problem}; rebuild it with `cwerm run {} --force {}`)",
                status_line(
                    "stale",
                    self.stage,
                    record.as_ref().map(|record| &record.object),
                    record.as_ref().map(|record| record.wall_seconds)
                ),
                pipeline_path.display(),
                self.stage
            ),
        }
    }
}

/// Formats one line of `cwerm run` or `cwerm status`:
/// `ran     prepare   3f2a9c81d0e4  0.84s`.
pub fn status_line(
    word: &str,
    stage: Stage,
    object: Option<&cwerm_store::Digest>,
    wall_seconds: Option<f64>,
) -> String {
    let hash = object.map_or_else(|| "-".to_string(), |object| object.short());
    let time = wall_seconds.map_or_else(|| "-".to_string(), |seconds| format!("{seconds:.2}s"));
    format!(
        "{word:<7} {stage:<9} {hash:<12}  {time}",
        stage = stage.name()
    )
}

/// Returns the canonical config section that enters `stage`'s key, without
/// the keys that cannot change the output. `prepare.path` and `embed.weights`
/// only locate files, and the content hashes of those files are key inputs.
/// `embed.batch_size` does not change the features, because each image is
/// embedded independently of its batch. The `pixels` encoder ignores
/// `embed.resolution`.
pub fn key_config(pipeline: &Pipeline, stage: Stage) -> Value {
    let mut config = pipeline.section_json(stage);
    if let Value::Object(section) = &mut config {
        match stage {
            Stage::Prepare => {
                section.remove("path");
            }
            Stage::Embed => {
                section.remove("weights");
                section.remove("batch_size");
                if pipeline.embed.encoder == EncoderKind::Pixels {
                    section.remove("resolution");
                }
            }
            _ => {}
        }
    }
    config
}

/// Rejects an object whose provenance names another stage, as when a record
/// was edited or copied by hand to point at the wrong object.
fn require_stage(object: &Object, stage: Stage) -> Result<(), StoreError> {
    let made_by = object.provenance()?.stage;
    if made_by == stage.name() {
        return Ok(());
    }
    Err(StoreError::InvalidObject {
        path: object.path().to_path_buf(),
        message: format!("made by the {made_by} stage, but the {stage} record points at it"),
    })
}

/// Computes keys and cache states stage by stage, keeping the verified
/// objects of cached stages for the stages after them.
pub struct Planner<'a> {
    pipeline_path: &'a Path,
    pipeline: &'a Pipeline,
    store: &'a Store,
    sources: Option<Vec<SourceFile>>,
    objects: BTreeMap<Stage, Object>,
    cached: BTreeMap<Stage, (StageKey, StageRecord)>,
}

impl<'a> Planner<'a> {
    pub fn new(pipeline_path: &'a Path, pipeline: &'a Pipeline, store: &'a Store) -> Planner<'a> {
        Planner {
            pipeline_path,
            pipeline,
            store,
            sources: None,
            objects: BTreeMap::new(),
            cached: BTreeMap::new(),
        }
    }

    /// Plans every stage from prepare to `until`, in order.
    pub fn plan_until(&mut self, until: Stage) -> Result<Vec<StagePlan>, StageError> {
        Stage::ALL
            .into_iter()
            .take_while(|stage| *stage <= until)
            .map(|stage| self.plan(stage))
            .collect()
    }

    /// Plans one stage, first resolving its upstream stages. A stage found
    /// cached stays cached for this planner, because objects never change
    /// under their names. A stage that was not cached is looked up again on
    /// the next call, so a caller can run it and then plan the next stage.
    pub fn plan(&mut self, stage: Stage) -> Result<StagePlan, StageError> {
        for &upstream in stage.upstream() {
            if !self.cached.contains_key(&upstream) {
                self.resolve(upstream)?;
            }
        }
        self.resolve(stage)
    }

    /// Returns the verified objects of the stages found cached so far.
    pub fn objects(&self) -> &BTreeMap<Stage, Object> {
        &self.objects
    }

    /// Lists and hashes the source files of prepare on first use.
    pub fn sources(&mut self) -> Result<&[SourceFile], StageError> {
        if self.sources.is_none() {
            self.sources = Some(source_files(self.pipeline_path, self.pipeline)?);
        }
        Ok(self.sources.as_deref().unwrap_or_default())
    }

    /// Computes the key of `stage`; every upstream stage must be cached.
    pub fn key(&mut self, stage: Stage) -> Result<StageKey, StageError> {
        if let Some((key, _)) = self.cached.get(&stage) {
            return Ok(key.clone());
        }
        if stage == Stage::Prepare {
            self.sources()?;
        }
        let sources = self.sources.as_deref().unwrap_or_default();
        let inputs = key_inputs(
            stage,
            self.pipeline_path,
            self.pipeline,
            &self.objects,
            sources,
        )?;

        let config = key_config(self.pipeline, stage);
        let seed = stage.uses_seed(self.pipeline).then_some(self.pipeline.seed);
        let format_version = crate::format_version(stage);
        let digest = cache_key(&KeyParts {
            stage: stage.name(),
            format_version,
            config: &config,
            inputs: &inputs,
            seed,
        });
        tracing::debug!(
            stage = stage.name(),
            key = %digest,
            config = canonical_json(&config),
            "computed cache key"
        );
        Ok(StageKey {
            stage,
            digest,
            format_version,
            config,
            inputs,
            seed,
        })
    }

    fn resolve(&mut self, stage: Stage) -> Result<StagePlan, StageError> {
        if let Some((key, record)) = self.cached.get(&stage) {
            return Ok(StagePlan {
                stage,
                key: Some(key.clone()),
                state: StageState::Cached {
                    record: record.clone(),
                },
            });
        }
        if let Some(&upstream) = stage
            .upstream()
            .iter()
            .find(|upstream| !self.objects.contains_key(upstream))
        {
            tracing::debug!(
                stage = stage.name(),
                upstream = upstream.name(),
                "key unknown until upstream is built"
            );
            return Ok(StagePlan {
                stage,
                key: None,
                state: StageState::Blocked { upstream },
            });
        }

        let key = self.key(stage)?;
        let state = self.look_up(&key)?;
        if let StageState::Cached { record } = &state {
            self.cached.insert(stage, (key.clone(), record.clone()));
        }
        Ok(StagePlan {
            stage,
            key: Some(key),
            state,
        })
    }

    fn look_up(&mut self, key: &StageKey) -> Result<StageState, StageError> {
        let stage = key.stage;
        let record = match self.store.read_record(stage.name(), &key.digest) {
            Ok(Some(record)) => record,
            Ok(None) => {
                tracing::debug!(stage = stage.name(), key = %key.digest, "no record for key");
                return Ok(StageState::Missing);
            }
            Err(problem @ StoreError::InvalidRecord { .. }) => {
                return Ok(StageState::Stale {
                    record: None,
                    problem,
                });
            }
            Err(error) => return Err(error.into()),
        };

        match self.store.read_object(&record.object).and_then(|object| {
            require_stage(&object, stage)?;
            Ok(object)
        }) {
            Ok(object) => {
                tracing::debug!(stage = stage.name(), object = %record.object, "record found and object verifies");
                self.objects.insert(stage, object);
                Ok(StageState::Cached { record })
            }
            Err(
                problem @ (StoreError::ObjectMissing { .. }
                | StoreError::HashMismatch { .. }
                | StoreError::InvalidObject { .. }),
            ) => {
                tracing::debug!(stage = stage.name(), %problem, "record found but object is unusable");
                Ok(StageState::Stale {
                    record: Some(record),
                    problem,
                })
            }
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod key_config_tests {
    use super::*;

    fn pipeline(embed: &str) -> Pipeline {
        let text =
            format!("name = \"t\"\n[prepare]\n[embed]\n{embed}\n[select]\n[reweight]\n[train]\n");
        Pipeline::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn key_config_drops_batch_size_and_paths() {
        let small = key_config(&pipeline("batch_size = 17"), Stage::Embed);
        let large = key_config(&pipeline("batch_size = 256"), Stage::Embed);
        assert_eq!(small, large);
        assert!(small.get("weights").is_none());
        assert_eq!(small["resolution"], 96);
        assert!(
            key_config(&pipeline(""), Stage::Prepare)
                .get("path")
                .is_none()
        );
    }

    #[test]
    fn pixels_key_ignores_resolution() {
        let low = key_config(
            &pipeline("encoder = \"pixels\"\nresolution = 32"),
            Stage::Embed,
        );
        let high = key_config(
            &pipeline("encoder = \"pixels\"\nresolution = 64"),
            Stage::Embed,
        );
        assert_eq!(low, high);
        let lite0 = key_config(&pipeline("resolution = 64"), Stage::Embed);
        assert_ne!(
            lite0,
            key_config(&pipeline("resolution = 96"), Stage::Embed)
        );
    }
}
