//! `cwerm`: runs pipeline files stage by stage, reports what is cached, and
//! dispatches `cwerm <name> ARGS...` to the executable `cwerm-<name>`,
//! git-style.
//!
//! `cwerm run` spawns the stage binaries (`cwerm-prepare` ... `cwerm-train`)
//! in pipeline order and skips each stage whose output is cached. Executables
//! are looked up beside the `cwerm` executable first, then on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

use clap::{Parser, Subcommand};
use cwerm_config::{Pipeline, Stage};
use cwerm_stages::{Planner, StageError, StageState, status_line};
use cwerm_store::{ARTIFACTS_ENV, Store};

/// Coreset-reweighted ERM: train classifiers on noisy or imbalanced labels.
#[derive(Parser)]
#[command(name = "cwerm", version)]
struct Cli {
    /// Artifact store directory [default: $CWERM_ARTIFACTS, else ./artifacts].
    #[arg(long, value_name = "DIR", global = true)]
    artifacts: Option<PathBuf>,

    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Runs the pipeline's stages in order, skipping each cached one. Prints
    /// one line per stage: ran or cached, the stage, the object hash prefix
    /// and the wall time of the run that made the object.
    Run {
        /// Pipeline file (TOML).
        pipeline: PathBuf,

        /// Last stage to run.
        #[arg(long, value_name = "STAGE")]
        until: Option<Stage>,

        /// Runs this stage even when its output is cached; repeatable. Later
        /// stages rerun only when the forced output changes.
        #[arg(long, value_name = "STAGE")]
        force: Vec<Stage>,
    },

    /// Prints each stage's state (cached, missing or stale) without running anything.
    Status {
        /// Pipeline file (TOML).
        pipeline: PathBuf,
    },

    /// Runs the executable `cwerm-<name>` with the remaining arguments, e.g.
    /// `cwerm prepare --pipeline FILE`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

/// Errors of the runner itself. A stage binary that fails prints its own
/// error, and the runner exits with that binary's code.
#[derive(Debug, thiserror::Error)]
enum RunnerError {
    /// Boxed because a `StageError` is large and most results are `Ok`.
    #[error(transparent)]
    Stage(Box<StageError>),

    #[error(
        "unknown command `{name}`: no executable `cwerm-{name}` beside {beside} or on PATH; built-in commands: run, status; stage commands: prepare, embed, select, reweight, train"
    )]
    UnknownCommand { name: String, beside: String },

    #[error("{program}: cannot start: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error("{program} was stopped by signal {signal}")]
    Signalled { program: PathBuf, signal: i32 },
}

impl From<StageError> for RunnerError {
    fn from(error: StageError) -> RunnerError {
        RunnerError::Stage(Box::new(error))
    }
}

impl RunnerError {
    fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Stage(error) => error.exit_code(),
            RunnerError::UnknownCommand { .. } => 2,
            RunnerError::Spawn { .. } | RunnerError::Signalled { .. } => 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cwerm_stages::init_logging();
    let store = Store::from_flag_or_env(cli.artifacts.as_deref());

    let result = match cli.command {
        CliCommand::Run {
            pipeline,
            until,
            force,
        } => run(&pipeline, &store, until.unwrap_or(Stage::Train), &force),
        CliCommand::Status { pipeline } => status(&pipeline, &store),
        CliCommand::External(args) => external(&args, cli.artifacts.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// `cwerm run`: plans each stage just before it would run, so a stage's key
/// can use the objects that the stages before it have just written.
fn run(
    pipeline_path: &Path,
    store: &Store,
    until: Stage,
    force: &[Stage],
) -> Result<ExitCode, RunnerError> {
    let pipeline = Pipeline::load(pipeline_path).map_err(StageError::from)?;
    let mut planner = Planner::new(pipeline_path, &pipeline, store);

    for stage in Stage::ALL.into_iter().take_while(|stage| *stage <= until) {
        let forced = force.contains(&stage);
        if !forced {
            let plan = planner.plan(stage)?;
            if let StageState::Cached { record } = &plan.state {
                println!(
                    "{}",
                    status_line(
                        "cached",
                        stage,
                        Some(&record.object),
                        Some(record.wall_seconds)
                    )
                );
                continue;
            }
            tracing::debug!(stage = stage.name(), state = ?plan.state, "stage is not cached, running it");
        }

        let status = run_stage_binary(stage, pipeline_path, store.root(), forced)?;
        if !status.success() {
            return exit_code_of(status, &stage.binary());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_stage_binary(
    stage: Stage,
    pipeline_path: &Path,
    root: &Path,
    force: bool,
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
    tracing::debug!(program = %program.display(), force, "spawning stage binary");
    command
        .status()
        .map_err(|source| RunnerError::Spawn { program, source })
}

/// `cwerm status`: one line per stage, nothing run and nothing written.
fn status(pipeline_path: &Path, store: &Store) -> Result<ExitCode, RunnerError> {
    let pipeline = Pipeline::load(pipeline_path).map_err(StageError::from)?;
    let mut planner = Planner::new(pipeline_path, &pipeline, store);
    for plan in planner.plan_until(Stage::Train)? {
        println!("{}", plan.line(pipeline_path));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cwerm <name> ARGS...`: runs `cwerm-<name>` with ARGS. A `--artifacts`
/// given before the name reaches it as `$CWERM_ARTIFACTS`.
fn external(args: &[OsString], artifacts: Option<&Path>) -> Result<ExitCode, RunnerError> {
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
