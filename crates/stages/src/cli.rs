//! The command line shared by the stage binaries `cwerm-<stage>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cwerm_config::{Pipeline, Stage};
use cwerm_store::Store;
use tracing_subscriber::EnvFilter;

use crate::error::StageError;
use crate::execute::{StageRun, run_stage};
use crate::shard::{Shard, ShardRun, merge_embed_shards, run_embed_shard};

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
    limit_candle_threads();
    init_logging();
    report(run_stage_command(stage, args), StageRun::line)
}

/// Runs `cwerm-embed`: the whole stage, or one shard with `--shard k/n`.
pub fn embed_main(args: &StageArgs, shard: Option<Shard>) -> ExitCode {
    limit_candle_threads();
    init_logging();
    let Some(shard) = shard else {
        return report(run_stage_command(Stage::Embed, args), StageRun::line);
    };
    let result = open(args).and_then(|(pipeline, store)| {
        run_embed_shard(&args.pipeline, &pipeline, &store, shard, args.force)
    });
    report(result, ShardRun::line)
}

/// Runs `cwerm-embed-merge`: joins `shards` embed shards into the embed object.
pub fn embed_merge_main(args: &StageArgs, shards: usize) -> ExitCode {
    init_logging();
    let result = open(args).and_then(|(pipeline, store)| {
        merge_embed_shards(&args.pipeline, &pipeline, &store, shards, args.force)
    });
    report(result, StageRun::line)
}

/// Prints the result line on stdout, or a one-line error on stderr, and
/// returns the exit code (2 for pipeline file errors, 1 for other errors).
fn report<T>(result: Result<T, StageError>, line: fn(&T) -> String) -> ExitCode {
    match result {
        Ok(run) => {
            println!("{}", line(&run));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

fn open(args: &StageArgs) -> Result<(Pipeline, Store), StageError> {
    let pipeline = Pipeline::load(&args.pipeline)?;
    Ok((pipeline, Store::from_flag_or_env(args.artifacts.as_deref())))
}

/// Loads the pipeline, opens the store and runs the stage.
pub fn run_stage_command(stage: Stage, args: &StageArgs) -> Result<StageRun, StageError> {
    let (pipeline, store) = open(args)?;
    tracing::debug!(stage = stage.name(), store = %store.root().display(), force = args.force, "running stage");
    run_stage(
        Path::new(&args.pipeline),
        &pipeline,
        &store,
        stage,
        args.force,
    )
}

/// Keeps candle's element-wise thread pool to one thread unless
/// `CANDLE_NUM_THREADS` is set. On a 2-core machine the pool's spin-waits
/// made learner steps 3 to 6 times slower than one thread. Matrix products
/// and the encoder's kernels still use rayon's threads.
fn limit_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: called at the start of a stage binary's `main`, before any
        // other thread exists, so no thread reads the environment meanwhile.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
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
