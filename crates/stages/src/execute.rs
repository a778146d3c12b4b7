//! Running one stage: plan the upstream stages, skip a cached output, else
//! run the body and write the object, then its record.
//!
//! Nothing is written before the body has returned, the object is written
//! before the record, and both go through atomic renames, so a failed or
//! killed run leaves either nothing or a whole object.

use std::path::Path;
use std::time::Instant;

use cwerm_config::{Pipeline, Stage};
use cwerm_store::{Digest, Provenance, StageRecord, Store, StoreError, encode_object};

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;
use crate::planner::{Planner, StageKey, StageState, status_line};

/// The kind of file written beside a train record with the run's metrics.
pub const METRICS_KIND: &str = "metrics";

/// The outcome of one stage invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct StageRun {
    pub stage: Stage,
    /// `true` when the body ran, `false` when the output was cached.
    pub ran: bool,
    pub key: Digest,
    pub object: Digest,
    /// Wall time of the run that made the object (for a cached stage, the
    /// time recorded when it was made).
    pub wall_seconds: f64,
}

impl StageRun {
    /// Formats the line that `cwerm run` prints for this stage.
    pub fn line(&self) -> String {
        let word = if self.ran { "ran" } else { "cached" };
        status_line(
            word,
            self.stage,
            Some(&self.object),
            Some(self.wall_seconds),
        )
    }
}

/// Runs `stage` of the pipeline against the store, or reports it cached.
/// With `force`, the body runs even when a record exists.
pub fn run_stage(
    pipeline_path: &Path,
    pipeline: &Pipeline,
    store: &Store,
    stage: Stage,
    force: bool,
) -> Result<StageRun, StageError> {
    run_stage_with(pipeline_path, pipeline, store, stage, force, &|context| {
        crate::run_body(stage, context)
    })
}

/// A function that computes a stage's output from its context.
pub type Body<'b> = dyn Fn(&StageContext<'_>) -> Result<StageOutput, StageError> + 'b;

/// Runs `stage` like [`run_stage`], with `body` in place of the stage's own
/// body; `cwerm embed-merge` uses it to join shards into the embed object.
pub fn run_stage_with(
    pipeline_path: &Path,
    pipeline: &Pipeline,
    store: &Store,
    stage: Stage,
    force: bool,
    body: &Body<'_>,
) -> Result<StageRun, StageError> {
    let start = Instant::now();
    let removed = store.clean_temps(&stage_names())?;
    if removed > 0 {
        tracing::debug!(removed, "removed temp files of killed writers");
    }

    let mut planner = Planner::new(pipeline_path, pipeline, store);
    require_upstream(&mut planner, pipeline_path, stage)?;

    let key = if force {
        tracing::debug!(stage = stage.name(), "forced, ignoring any record");
        planner.key(stage)?
    } else {
        let plan = planner.plan(stage)?;
        let key = plan
            .key
            .expect("upstream stages are cached, so the key is known");
        match plan.state {
            StageState::Cached { record } => {
                return Ok(StageRun {
                    stage,
                    ran: false,
                    key: key.digest,
                    object: record.object,
                    wall_seconds: record.wall_seconds,
                });
            }
            StageState::Stale { problem, .. }
                if !matches!(problem, StoreError::ObjectMissing { .. }) =>
            {
                return Err(StageError::Corrupt {
                    stage,
                    pipeline: pipeline_path.to_path_buf(),
                    source: problem,
                });
            }
            _ => key,
        }
    };

    let sources = if stage == Stage::Prepare {
        planner.sources()?.to_vec()
    } else {
        Vec::new()
    };
    let context = StageContext::new(
        stage,
        pipeline,
        pipeline_path,
        key.seed,
        &sources,
        planner.objects(),
    );
    let output = body(&context)?;

    let provenance = Provenance {
        stage: stage.name().to_string(),
        format_version: key.format_version,
        config: key.config.clone(),
        inputs: key.inputs.iter().cloned().collect(),
        seed: key.seed,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        summary: output.summary.clone(),
    };
    let bytes = encode_object(&output.tensors, &provenance)?;
    let object = store.put_object(&bytes)?;

    if stage == Stage::Train {
        store.write_side_file(stage.name(), &key.digest, METRICS_KIND, &output.summary)?;
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    store.write_record(&record(&key, object, wall_seconds))?;

    Ok(StageRun {
        stage,
        ran: true,
        key: key.digest,
        object,
        wall_seconds,
    })
}

/// Checks that every upstream stage is cached; the error names the command
/// that builds or rebuilds the first one that is not.
pub(crate) fn require_upstream(
    planner: &mut Planner<'_>,
    pipeline_path: &Path,
    stage: Stage,
) -> Result<(), StageError> {
    for &upstream in stage.upstream() {
        let plan = planner.plan(upstream)?;
        match plan.state {
            StageState::Cached { .. } => {}
            StageState::Missing | StageState::Blocked { .. } => {
                return Err(StageError::MissingUpstream {
                    stage: upstream,
                    pipeline: pipeline_path.to_path_buf(),
                });
            }
            StageState::Stale { problem, .. } => {
                if matches!(problem, StoreError::ObjectMissing { .. }) {
                    return Err(StageError::MissingUpstream {
                        stage: upstream,
                        pipeline: pipeline_path.to_path_buf(),
                    });
                }
                return Err(StageError::Corrupt {
                    stage: upstream,
                    pipeline: pipeline_path.to_path_buf(),
                    source: problem,
                });
            }
        }
    }
    Ok(())
}

fn record(key: &StageKey, object: Digest, wall_seconds: f64) -> StageRecord {
    StageRecord {
        stage: key.stage.name().to_string(),
        key: key.digest,
        object,
        inputs: key.inputs.iter().cloned().collect(),
        config: key.config.clone(),
        seed: key.seed,
        format_version: key.format_version,
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        wall_seconds,
    }
}

pub(crate) fn stage_names() -> Vec<&'static str> {
    Stage::ALL.iter().map(|stage| stage.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::IMAGES_INPUT;

    struct Fixture {
        dir: tempfile::TempDir,
        pipeline: Pipeline,
        store: Store,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            std::fs::create_dir_all(&data).unwrap();
            write_idx(&data, "train", 100);
            write_idx(&data, "t10k", 10);
            let text = format!(
                "name = \"t\"\nseed = 3\n[prepare]\npath = {:?}\nmeta_per_class = 1\n[embed]\nencoder = \"pixels\"\n[select]\nratio = 0.5\n[reweight]\n[train]\n",
                data.to_str().unwrap()
            );
            let pipeline = Pipeline::parse(&text, Path::new("t.toml")).unwrap();
            let store = Store::new(dir.path().join("artifacts"));
            Fixture {
                dir,
                pipeline,
                store,
            }
        }

        fn run(&self, stage: Stage, force: bool) -> Result<StageRun, StageError> {
            run_stage(
                Path::new("t.toml"),
                &self.pipeline,
                &self.store,
                stage,
                force,
            )
        }
    }

    /// Writes raw IDX files `<prefix>-{images-idx3,labels-idx1}-ubyte` of
    /// `count` 28x28 images whose labels cycle through 10 classes.
    fn write_idx(dir: &Path, prefix: &str, count: u32) {
        let mut images = [0x0803u32, count, 28, 28]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        let mut labels = [0x0801u32, count]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>();
        for row in 0..count {
            images.extend(std::iter::repeat_n((row * 12) as u8, 28 * 28));
            labels.push((row % 10) as u8);
        }
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }

    #[test]
    fn stages_run_then_report_cached() {
        let fixture = Fixture::new();
        let first: Vec<StageRun> = Stage::ALL
            .iter()
            .map(|&stage| fixture.run(stage, false).unwrap())
            .collect();
        assert!(first.iter().all(|run| run.ran));
        let second: Vec<StageRun> = Stage::ALL
            .iter()
            .map(|&stage| fixture.run(stage, false).unwrap())
            .collect();
        assert!(second.iter().all(|run| !run.ran));
        for (ran, cached) in first.iter().zip(&second) {
            assert_eq!(ran.object, cached.object);
            assert_eq!(ran.key, cached.key);
        }
        assert!(fixture.dir.path().join("artifacts/objects").is_dir());
    }

    #[test]
    fn provenance_records_inputs_and_seed() {
        let fixture = Fixture::new();
        let runs: Vec<StageRun> = Stage::ALL
            .iter()
            .map(|&stage| fixture.run(stage, false).unwrap())
            .collect();

        let embed = fixture
            .store
            .read_object(&runs[1].object)
            .unwrap()
            .provenance()
            .unwrap();
        assert_eq!(embed.stage, "embed");
        assert_eq!(embed.inputs.keys().collect::<Vec<_>>(), [IMAGES_INPUT]);
        assert_eq!(embed.seed, None);

        // Moderate selection draws no random numbers, train does.
        let select = fixture
            .store
            .read_object(&runs[2].object)
            .unwrap()
            .provenance()
            .unwrap();
        assert_eq!(select.seed, None);
        assert_eq!(select.inputs["prepare"], runs[0].object);
        assert_eq!(select.inputs["embed"], runs[1].object);
        let train = fixture
            .store
            .read_object(&runs[4].object)
            .unwrap()
            .provenance()
            .unwrap();
        assert_eq!(train.seed, Some(3));
        assert_eq!(train.inputs.len(), 4);
        assert_eq!(train.summary["train_rows"], 90);
    }

    #[test]
    fn forced_run_rewrites_nothing_when_output_is_equal() {
        let fixture = Fixture::new();
        let first = fixture.run(Stage::Prepare, false).unwrap();
        let path = fixture.store.object_path(&first.object);
        let old_time =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(old_time).unwrap();
        drop(file);

        let forced = fixture.run(Stage::Prepare, true).unwrap();
        assert!(forced.ran);
        assert_eq!(forced.object, first.object);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            old_time
        );
    }

    #[test]
    fn corrupt_own_object_is_rejected_unless_forced() {
        let fixture = Fixture::new();
        let run = fixture.run(Stage::Prepare, false).unwrap();
        let path = fixture.store.object_path(&run.object);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();

        let error = fixture.run(Stage::Prepare, false).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("{}: content hash is ", path.display())),
            "{text}"
        );
        assert!(
            text.ends_with("; rebuild it with `cwerm run t.toml --force prepare`"),
            "{text}"
        );
        assert_eq!(error.exit_code(), 1);

        let rebuilt = fixture.run(Stage::Prepare, true).unwrap();
        assert_eq!(rebuilt.object, run.object);
        assert!(fixture.store.read_object(&run.object).is_ok());
    }

    #[test]
    fn deleted_object_is_rebuilt_without_force() {
        let fixture = Fixture::new();
        let run = fixture.run(Stage::Prepare, false).unwrap();
        std::fs::remove_file(fixture.store.object_path(&run.object)).unwrap();
        let again = fixture.run(Stage::Prepare, false).unwrap();
        assert!(again.ran);
        assert_eq!(again.object, run.object);
    }
}
