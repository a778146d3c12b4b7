//! Running a pipeline file stage by stage: each stage that is not cached runs
//! as its own executable `cwerm-<stage>`, looked up beside the `cwerm`
//! executable first, then on `PATH`.
//!
//! [`run_pipeline`] returns one [`StageRun`] per stage (ran or cached, cache
//! key, object, wall time), read from the stage record after the executable
//! has finished, so `cwerm run` and `cwerm compare` share one code path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use cwerm_config::{Pipeline, Stage};
use cwerm_stages::{Planner, StageError, StageRun, StageState};
use cwerm_store::{ARTIFACTS_ENV, Store};

/// Errors of the runner itself. A stage executable that fails prints its own
/// error, and the runner exits with that executable's code.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Boxed because a `StageError` is large and most results are `Ok`.
    #[error(transparent)]
    Stage(Box<StageError>),

    #[error(
        "unknown command `{name}`: no executable `cwerm-{name}` beside {beside} or on PATH; built-in commands: run, status, compare; stage commands: prepare, embed, select, reweight, train; tools: embed-merge, import-weights"
    )]
    UnknownCommand { name: String, beside: String },

    #[error("{program}: cannot start: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error("{program} was stopped by signal {signal}")]
    Signalled { program: PathBuf, signal: i32 },

    /// The stage executable exited with a non-zero code after printing its
    /// own error on stderr.
    #[error("{stage} failed with exit code {code}")]
    StageFailed { stage: Stage, code: u8 },

    /// The stage executable exited with code 0 but its record is not in the
    /// store, e.g. because another process removed it.
    #[error(
        "{stage} finished but the store {root} holds no usable record for it; run `cwerm run {pipeline} --force {stage}`"
    )]
    NoRecordAfterRun {
        stage: Stage,
        root: PathBuf,
        pipeline: PathBuf,
    },
}

impl From<StageError> for RunnerError {
    fn from(error: StageError) -> RunnerError {
        RunnerError::Stage(Box::new(error))
    }
}

impl RunnerError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Stage(error) => error.exit_code(),
            RunnerError::UnknownCommand { .. } => 2,
            RunnerError::StageFailed { code, .. } => *code,
            RunnerError::Spawn { .. }
            | RunnerError::Signalled { .. }
            | RunnerError::NoRecordAfterRun { .. } => 1,
        }
    }

    /// Returns whether a stage executable already printed the error, so the
    /// runner adds no second line.
    pub fn already_printed(&self) -> bool {
        matches!(self, RunnerError::StageFailed { .. })
    }
}

/// Destination of the `ran` and `cached` lines of a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageLines {
    /// On stdout: the runner prints the `cached` lines and each stage
    /// executable prints its own `ran` line.
    Print,
    /// Nowhere: the caller reports progress itself from the returned runs.
    Quiet,
}

/// Runs the stages of `pipeline` from prepare to `until`, skipping each cached
/// one unless it is in `force`. Each stage is planned just before it would
/// run, so its key can use the objects that the stages before it have just
/// written.
pub fn run_pipeline(
    pipeline_path: &Path,
    pipeline: &Pipeline,
    store: &Store,
    until: Stage,
    force: &[Stage],
    lines: StageLines,
) -> Result<Vec<StageRun>, RunnerError> {
    let mut planner = Planner::new(pipeline_path, pipeline, store);
    let mut runs = Vec::new();

    for stage in Stage::ALL.into_iter().take_while(|stage| *stage <= until) {
        let forced = force.contains(&stage);
        if !forced {
            let plan = planner.plan(stage)?;
            if let (StageState::Cached { record }, Some(key)) = (&plan.state, &plan.key) {
                let run = StageRun {
                    stage,
                    ran: false,
                    key: key.digest,
                    object: record.object,
                    wall_seconds: record.wall_seconds,
                };
                if lines == StageLines::Print {
                    println!("{}", run.line());
                }
                runs.push(run);
                continue;
            }
            tracing::debug!(stage = stage.name(), state = ?plan.state, "stage is not cached, running it");
        }

        let status = run_stage_binary(stage, pipeline_path, store.root(), forced, lines)?;
        if !status.success() {
            return Err(failure(stage, status));
        }
        runs.push(ran_stage(&mut planner, stage, pipeline_path, store)?);
    }
    Ok(runs)
}

/// Reads the record that a stage executable has just written.
fn ran_stage(
    planner: &mut Planner<'_>,
    stage: Stage,
    pipeline_path: &Path,
    store: &Store,
) -> Result<StageRun, RunnerError> {
    let plan = planner.plan(stage)?;
    match (plan.state, plan.key) {
        (StageState::Cached { record }, Some(key)) => Ok(StageRun {
            stage,
            ran: true,
            key: key.digest,
            object: record.object,
            wall_seconds: record.wall_seconds,
        }),
        _ => Err(RunnerError::NoRecordAfterRun {
            stage,
            root: store.root().to_path_buf(),
            pipeline: pipeline_path.to_path_buf(),
        }),
    }
}

fn run_stage_binary(
    stage: Stage,
    pipeline_path: &Path,
    root: &Path,
    force: bool,
    lines: StageLines,
) -> Result<ExitStatus, RunnerError> {
    let name = stage.binary();
    let program = find_executable(&name).ok_or_else(|| unknown_command(stage.name()))?;
    let mut command = Command::new(&program);
    command
        .arg("--pipeline")
        .arg(pipeline_path)
        .arg("--artifacts")
        .arg(root);
    if force {
        command.arg("--force");
    }
    if lines == StageLines::Quiet {
        command.stdout(Stdio::null());
    }
    tracing::debug!(program = %program.display(), force, "spawning stage binary");
    command
        .status()
        .map_err(|source| RunnerError::Spawn { program, source })
}

/// Maps a failed stage executable's status to [`RunnerError::StageFailed`],
/// or to [`RunnerError::Signalled`] when a signal stopped it.
fn failure(stage: Stage, status: ExitStatus) -> RunnerError {
    match exit_code_of(status, &stage.binary()) {
        Ok(_) => RunnerError::StageFailed {
            stage,
            code: status
                .code()
                .and_then(|code| u8::try_from(code).ok())
                .filter(|&code| code != 0)
                .unwrap_or(1),
        },
        Err(error) => error,
    }
}

/// `cwerm <name> ARGS...`: runs `cwerm-<name>` with ARGS. A `--artifacts`
/// given before the name reaches it as `$CWERM_ARTIFACTS`.
pub fn external(args: &[OsString], artifacts: Option<&Path>) -> Result<ExitCode, RunnerError> {
    let name = args
        .first()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let program = valid_name
        .then(|| find_executable(&format!("cwerm-{name}")))
        .flatten()
        .ok_or_else(|| unknown_command(&name))?;

    let mut command = Command::new(&program);
    command.args(&args[1..]);
    if let Some(root) = artifacts {
        command.env(ARTIFACTS_ENV, root);
    }
    tracing::debug!(program = %program.display(), "running external command");
    let status = command.status().map_err(|source| RunnerError::Spawn {
        program: program.clone(),
        source,
    })?;
    exit_code_of(status, &program.display().to_string())
}

/// Finds an executable file `name` beside the running `cwerm`, else on PATH.
fn find_executable(name: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    let on_path = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

fn unknown_command(name: &str) -> RunnerError {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.display().to_string()))
        .unwrap_or_else(|| "the cwerm executable".into());
    RunnerError::UnknownCommand {
        name: name.to_string(),
        beside,
    }
}

/// Converts a finished child's status into the exit code: the child's own
/// code, or an error when a signal stopped it.
fn exit_code_of(status: ExitStatus, program: &str) -> Result<ExitCode, RunnerError> {
    if let Some(code) = status.code() {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Err(RunnerError::Signalled {
                program: PathBuf::from(program),
                signal,
            });
        }
    }
    Ok(ExitCode::from(1))
}
