//! `cwerm`: runs pipeline files stage by stage, reports what is cached,
//! compares methods over seeds, and dispatches `cwerm <name> ARGS...` to the
//! executable `cwerm-<name>`, git-style.
//!
//! `cwerm run` spawns the stage binaries (`cwerm-prepare` ... `cwerm-train`)
//! in pipeline order, skips each stage whose output is cached, and after the
//! train stage prints a short summary of its metrics. `cwerm compare` runs
//! the same code path once per method and seed. Executables are looked up
//! beside the `cwerm` executable first, then on `PATH`.

mod compare;
mod runner;
mod summary;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cwerm_config::{Pipeline, Stage};
use cwerm_stages::{Planner, StageError};
use cwerm_store::Store;

use compare::{CompareArgs, CompareError};
use runner::{RunnerError, StageLines, run_pipeline};
use summary::{MetricsError, TrainMetrics};

/// Coreset-reweighted ERM: train classifiers on noisy or imbalanced labels.
#[derive(Parser)]
#[command(
    name = "cwerm",
    version,
    after_help = "Other commands run the executable cwerm-<name> beside cwerm or on PATH:\n  \
                  prepare, embed, select, reweight, train   one stage: cwerm <stage> --pipeline FILE\n  \
                  embed-merge                               join embed shards: --pipeline FILE --shards N\n  \
                  import-weights                            convert a legacy torch checkpoint: SRC.pth DST.safetensors"
)]
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
    /// and the wall time of the run that made the object. After the train
    /// stage it prints the test accuracy, how the weights separate flipped
    /// from clean labels, and the path of the metrics file.
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

    /// Runs the methods erm, w-erm, coreset-random, coreset-moderate, cw-erm
    /// and cw-erm-constant as key overrides of one pipeline over several
    /// seeds, then writes results.md, results.csv, runs.csv and SVG plots to
    /// the output folder and prints the Markdown table.
    Compare(CompareArgs),

    /// Runs the executable `cwerm-<name>` with the remaining arguments, e.g.
    /// `cwerm prepare --pipeline FILE`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cwerm_stages::init_logging();
    let store = Store::from_flag_or_env(cli.artifacts.as_deref());

    match cli.command {
        CliCommand::Run {
            pipeline,
            until,
            force,
        } => finish(
            run(&pipeline, &store, until.unwrap_or(Stage::Train), &force),
            RunCommandError::exit_code,
            RunCommandError::already_printed,
        ),
        CliCommand::Status { pipeline } => {
            finish(status(&pipeline, &store), RunnerError::exit_code, |_| false)
        }
        CliCommand::Compare(args) => finish(
            compare::compare(&args, &store, &command_line()),
            CompareError::exit_code,
            |_| false,
        ),
        CliCommand::External(args) => finish(
            runner::external(&args, cli.artifacts.as_deref()),
            RunnerError::exit_code,
            |_| false,
        ),
    }
}

/// Prints an error as one line on stderr unless a stage executable already
/// printed it, and returns the exit code.
fn finish<E: std::fmt::Display>(
    result: Result<ExitCode, E>,
    exit_code: fn(&E) -> u8,
    already_printed: fn(&E) -> bool,
) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            if !already_printed(&error) {
                eprintln!("error: {error}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// Errors of `cwerm run`.
#[derive(Debug, thiserror::Error)]
enum RunCommandError {
    #[error(transparent)]
    Runner(#[from] RunnerError),

    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

impl RunCommandError {
    fn exit_code(&self) -> u8 {
        match self {
            RunCommandError::Runner(error) => error.exit_code(),
            RunCommandError::Metrics(_) => 1,
        }
    }

    fn already_printed(&self) -> bool {
        matches!(self, RunCommandError::Runner(error) if error.already_printed())
    }
}

/// `cwerm run`: the stage lines, then the train metrics summary when the
/// train stage was part of the run.
fn run(
    pipeline_path: &Path,
    store: &Store,
    until: Stage,
    force: &[Stage],
) -> Result<ExitCode, RunCommandError> {
    let pipeline = Pipeline::load(pipeline_path)
        .map_err(|error| RunnerError::from(StageError::from(error)))?;
    let runs = run_pipeline(
        pipeline_path,
        &pipeline,
        store,
        until,
        force,
        StageLines::Print,
    )?;

    if let Some(train) = runs.iter().find(|run| run.stage == Stage::Train) {
        let metrics = TrainMetrics::read(store, &train.key, pipeline_path)?;
        for line in metrics.summary_lines() {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// Rebuilds the command line as typed, with the program shown as `cwerm`
/// and arguments quoted where a shell would need it.
fn command_line() -> String {
    let mut words = vec!["cwerm".to_string()];
    words.extend(std::env::args_os().skip(1).map(|arg| {
        let text = arg.to_string_lossy().into_owned();
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+".contains(c));
        if plain {
            text
        } else {
            format!("'{}'", text.replace('\'', r"'\''"))
        }
    }));
    words.join(" ")
}
