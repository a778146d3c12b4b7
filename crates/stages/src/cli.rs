//! The command line shared by the stage binaries `cwerm-<stage>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cwerm_config::{Pipeline, Stage};
use cwerm_store::Store;
use tracing_subscriber::EnvFilter;

use crate::error::StageError;
use crate::execute::{StageRun, run_stage};

/// Arguments of every stage binary.
#[derive(Clone, Debug, clap::Args)]
pub struct StageArgs {
    /// Pipeline file (TOML) with the stage's settings.
    #[arg(long, value_name = "FILE")]
    pub pipeline: PathBuf,

    /// Artifact store directory [default: $CWERM_ARTIFACTS, else ./artifacts].
    #[arg(long, value_name = "DIR")]
    pub artifacts: Option<PathBuf>,

    /// Run the stage even when its output is cached.
    #[arg(long)]
    pub force: bool,
}

/// Runs one stage binary: prints the `ran`/`cached` line on stdout, or a
/// one-line error on stderr, and returns the exit code (2 for pipeline file
/// errors, 1 for other errors).
pub fn stage_main(stage: Stage, args: &StageArgs) -> ExitCode {
    init_logging();
    match run_stage_command(stage, args) {
        Ok(run) => {
            println!("{}", run.line());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Loads the pipeline, opens the store and runs the stage.
pub fn run_stage_command(stage: Stage, args: &StageArgs) -> Result<StageRun, StageError> {
    let pipeline = Pipeline::load(&args.pipeline)?;
    let store = Store::from_flag_or_env(args.artifacts.as_deref());
    tracing::debug!(stage = stage.name(), store = %store.root().display(), force = args.force, "running stage");
    run_stage(
        Path::new(&args.pipeline),
        &pipeline,
        &store,
        stage,
        args.force,
    )
}

/// Sends `tracing` logs to stderr, at `info` unless `RUST_LOG` sets another filter.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call, as in tests that run several commands in one process,
    // keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}
