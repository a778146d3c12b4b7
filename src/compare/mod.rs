//! `cwerm compare`: runs several methods over several seeds as key overrides
//! of one pipeline file, against one store, and writes the comparison.
//!
//! First the method and seed lists and every derived pipeline are validated.
//! Then prepare runs once to count the training rows, because W-ERM sizes its
//! reweight steps from them. Then, for each seed and method, the derived
//! pipeline file is written and run through [`run_pipeline`], the code path
//! of `cwerm run`.
//! Stages whose settings and inputs two methods share have the same cache
//! key, so they run once and come from the cache afterwards. Finally the
//! table, the per-run CSV and the plots are written to the output folder and
//! the Markdown table is printed on stdout. Progress goes to stderr, one line
//! per method and seed.

mod collect;
mod methods;
mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cwerm_config::{ConfigError, Pipeline, Stage};
use cwerm_report::{RunResult, WeightCurve};
use cwerm_stages::{StageError, StageRun};
use cwerm_store::{Digest, Store, StoreError};

use crate::runner::{RunnerError, StageLines, run_pipeline};
use crate::summary::{MetricsError, TrainMetrics};
use collect::{DEFAULT_MAX_LOSS, LearnedMetaNet, PreparedLabels, TrainingWeights};
pub use methods::Method;
use methods::{parse_methods, parse_seeds};

/// Points per weight curve.
const CURVE_POINTS: usize = 101;

/// The arguments of `cwerm compare`.
#[derive(Clone, Debug, clap::Args)]
pub struct CompareArgs {
    /// Pipeline file (TOML) that every method overrides.
    pub pipeline: PathBuf,

    /// Comma-separated training seeds, e.g. 0,1,2; each sets the top-level
    /// `seed` [default: the pipeline's seed].
    #[arg(long, value_name = "LIST")]
    pub seeds: Option<String>,

    /// Comma-separated methods [default: erm, w-erm, coreset-random,
    /// coreset-moderate, cw-erm, cw-erm-constant].
    #[arg(long, value_name = "LIST")]
    pub methods: Option<String>,

    /// Output folder [default: compare/<pipeline name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Errors of `cwerm compare`; each prints as one line.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("unknown method `{name}` in --methods; expected some of {accepted}")]
    UnknownMethod { name: String, accepted: String },

    #[error("--methods is empty; expected some of {accepted}")]
    EmptyMethods { accepted: String },

    #[error("--methods lists `{name}` twice")]
    DuplicateMethod { name: String },

    #[error("--seeds is empty; expected a comma-separated list of seeds such as 0,1,2")]
    EmptySeeds,

    #[error(
        "--seeds `{list}`: item {position} is empty; expected a comma-separated list of seeds such as 0,1,2"
    )]
    EmptySeedItem { list: String, position: usize },

    #[error("--seeds item `{item}` is not a seed: expected an integer in 0..=9223372036854775807")]
    InvalidSeed { item: String },

    #[error("--seeds lists seed {seed} twice")]
    DuplicateSeed { seed: u64 },

    #[error("--out {path} exists and is not a folder")]
    OutNotFolder { path: PathBuf },

    #[error(transparent)]
    Config(#[from] ConfigError),

    #[error("method {method} seed {seed}: the overridden pipeline is invalid: {source}")]
    InvalidOverride {
        method: Method,
        seed: u64,
        source: ConfigError,
    },

    #[error(
        "w-erm: 10 epochs of {train_rows} training rows at reweight.batch_size {batch_size} do not give a step count in 1..=4294967295"
    )]
    WErmSteps { train_rows: usize, batch_size: u32 },

    #[error("{path}: cannot {operation}: {source}")]
    Write {
        path: PathBuf,
        operation: &'static str,
        source: std::io::Error,
    },

    #[error("{path}: cannot serialise the derived pipeline: {message}")]
    Serialize { path: PathBuf, message: String },

    #[error("{path}: the derived pipeline does not load back: {message}")]
    Reload { path: PathBuf, message: String },

    #[error("prepare: {source}")]
    Prepare { source: RunnerError },

    #[error("{method} seed {seed} ({pipeline}): {source}")]
    Run {
        method: Method,
        seed: u64,
        pipeline: PathBuf,
        source: RunnerError,
    },

    #[error(transparent)]
    Metrics(#[from] MetricsError),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{path}: invalid object: {message}")]
    InvalidObject { path: PathBuf, message: String },

    #[error("{path}: cannot evaluate the meta-net: {message}")]
    MetaNet { path: PathBuf, message: String },

    #[error(transparent)]
    Report(#[from] cwerm_report::ReportError),
}

impl CompareError {
    /// Returns the process exit code: 2 for invalid arguments or pipeline
    /// files, a failed stage's own code, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CompareError::UnknownMethod { .. }
            | CompareError::EmptyMethods { .. }
            | CompareError::DuplicateMethod { .. }
            | CompareError::EmptySeeds
            | CompareError::EmptySeedItem { .. }
            | CompareError::InvalidSeed { .. }
            | CompareError::DuplicateSeed { .. }
            | CompareError::OutNotFolder { .. }
            | CompareError::Config(_)
            | CompareError::InvalidOverride { .. }
            | CompareError::WErmSteps { .. } => 2,
            CompareError::Prepare { source } | CompareError::Run { source, .. } => {
                source.exit_code()
            }
            _ => 1,
        }
    }
}

/// One finished method and seed.
struct CompletedRun {
    method: Method,
    seed: u64,
    stages: Vec<StageRun>,
    result: RunResult,
}

impl CompletedRun {
    fn object(&self, stage: Stage) -> Option<Digest> {
        self.stages
            .iter()
            .find(|run| run.stage == stage)
            .map(|run| run.object)
    }
}

/// Runs the comparison; `command_line` is recorded in `results.md`.
pub fn compare(
    args: &CompareArgs,
    store: &Store,
    command_line: &str,
) -> Result<ExitCode, CompareError> {
    let methods = match &args.methods {
        Some(list) => parse_methods(list)?,
        None => Method::ALL.to_vec(),
    };
    let base = Pipeline::load(&args.pipeline)?;
    let seeds = match &args.seeds {
        Some(list) => parse_seeds(list)?,
        None => vec![base.seed],
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| output::default_out(&base.name));
    if out.exists() && !out.is_dir() {
        return Err(CompareError::OutNotFolder { path: out });
    }
    validate_overrides(&base, &args.pipeline, &methods, &seeds)?;

    let prepared = run_prepare(args, &base, store)?;
    output::create_dir(&out.join(output::PIPELINES_DIR))?;

    let total = methods.len() * seeds.len();
    let mut completed = Vec::with_capacity(total);
    for &seed in &seeds {
        for &method in &methods {
            let run = run_method(method, seed, &base, &prepared, &out, store)?;
            eprintln!(
                "compare: {method} seed {seed} ({}/{total}): {}",
                completed.len() + 1,
                progress(&run)
            );
            completed.push(run);
        }
    }

    let results: Vec<RunResult> = completed.iter().map(|run| run.result.clone()).collect();
    let summaries = cwerm_report::summarize(&results);
    let table = cwerm_report::to_markdown(&summaries);
    let markdown =
        output::results_markdown(&base.name, command_line, &args.pipeline, &seeds, &table);
    output::write_tables(
        &out,
        &markdown,
        &summaries,
        &cwerm_report::runs_to_csv(&results),
    )?;
    write_plots(&out, store, &base, &prepared, &completed, seeds[0])?;

    print!("{table}");
    eprintln!("compare: wrote {}", out.join("results.md").display());
    Ok(ExitCode::SUCCESS)
}

/// Checks every derived pipeline before anything runs. W-ERM's step count
/// needs the training rows, so it is checked here with one row and again
/// once the rows are known.
fn validate_overrides(
    base: &Pipeline,
    origin: &Path,
    methods: &[Method],
    seeds: &[u64],
) -> Result<(), CompareError> {
    for &method in methods {
        for &seed in seeds {
            let pipeline = method.derive(base, seed, 1)?;
            pipeline
                .revalidate(origin)
                .map_err(|source| CompareError::InvalidOverride {
                    method,
                    seed,
                    source,
                })?;
        }
    }
    Ok(())
}

/// Runs prepare from the pipeline file itself (no method changes
/// `[prepare]`) and reads the labels every method shares.
fn run_prepare(
    args: &CompareArgs,
    base: &Pipeline,
    store: &Store,
) -> Result<PreparedLabels, CompareError> {
    let runs = run_pipeline(
        &args.pipeline,
        base,
        store,
        Stage::Prepare,
        &[],
        StageLines::Quiet,
    )
    .map_err(|source| CompareError::Prepare { source })?;
    let prepare = &runs[0];
    let prepared = PreparedLabels::read(store, &prepare.object)?;
    eprintln!(
        "compare: prepare {} ({:.1}s), {} training rows",
        if prepare.ran { "ran" } else { "cached" },
        prepare.wall_seconds,
        prepared.train_rows()
    );
    Ok(prepared)
}

/// Writes the derived pipeline of `method` and `seed`, runs it and reads its
/// metrics.
fn run_method(
    method: Method,
    seed: u64,
    base: &Pipeline,
    prepared: &PreparedLabels,
    out: &Path,
    store: &Store,
) -> Result<CompletedRun, CompareError> {
    let pipeline = method.derive(base, seed, prepared.train_rows())?;
    let path = output::pipeline_path(out, method, seed);
    pipeline
        .revalidate(&path)
        .map_err(|source| CompareError::InvalidOverride {
            method,
            seed,
            source,
        })?;
    output::write_pipeline(&pipeline, &path)?;

    let stages = run_pipeline(
        &path,
        &pipeline,
        store,
        Stage::Train,
        &[],
        StageLines::Quiet,
    )
    .map_err(|source| CompareError::Run {
        method,
        seed,
        pipeline: path.clone(),
        source,
    })?;
    let train = stages
        .last()
        .filter(|run| run.stage == Stage::Train)
        .ok_or_else(|| CompareError::Run {
            method,
            seed,
            pipeline: path.clone(),
            source: RunnerError::from(StageError::MissingUpstream {
                stage: Stage::Train,
                pipeline: path.clone(),
            }),
        })?;

    let metrics = TrainMetrics::read(store, &train.key, &path)?;
    let stage_seconds: BTreeMap<String, f64> = stages
        .iter()
        .map(|run| (run.stage.name().to_string(), run.wall_seconds))
        .collect();
    let result = RunResult {
        method: method.name().to_string(),
        seed,
        test_accuracy: metrics.require_test_accuracy(&path)?,
        auroc: metrics.auroc_flipped,
        mean_weight_clean: metrics.mean_weight_clean,
        mean_weight_flipped: metrics.mean_weight_flipped,
        stage_seconds,
    };
    Ok(CompletedRun {
        method,
        seed,
        stages,
        result,
    })
}

/// `ran reweight 2.1s, train 12.3s; accuracy 85.12%`, or `all stages
/// cached; ...` when nothing ran.
fn progress(run: &CompletedRun) -> String {
    let ran: Vec<String> = run
        .stages
        .iter()
        .filter(|stage| stage.ran)
        .map(|stage| format!("{} {:.1}s", stage.stage, stage.wall_seconds))
        .collect();
    let stages = if ran.is_empty() {
        "all stages cached".to_string()
    } else {
        format!("ran {}", ran.join(", "))
    };
    format!(
        "{stages}; accuracy {:.2}%",
        100.0 * run.result.test_accuracy
    )
}

/// Writes the weight histograms and the meta-net curves of the runs with
/// seed `seed`.
fn write_plots(
    out: &Path,
    store: &Store,
    base: &Pipeline,
    prepared: &PreparedLabels,
    completed: &[CompletedRun],
    seed: u64,
) -> Result<(), CompareError> {
    output::remove_old_plots(out)?;
    let first_seed: Vec<&CompletedRun> = completed.iter().filter(|run| run.seed == seed).collect();

    for run in &first_seed {
        let Some(train) = run.object(Stage::Train) else {
            continue;
        };
        let weights = TrainingWeights::read(store, &train, prepared)?;
        if weights.all_ones() {
            continue;
        }
        cwerm_report::plot_weight_histogram(
            &output::histogram_path(out, run.method),
            &format!("{}: final training weights, seed {seed}", run.method),
            &weights.clean,
            &weights.flipped,
        )?;
    }

    let curves = weight_curves(store, base, &first_seed)?;
    if curves.is_empty() {
        eprintln!(
            "compare: no reweight object holds meta-net parameters, so {} is not written",
            output::CURVES_FILE
        );
        return Ok(());
    }
    cwerm_report::plot_weight_curves(
        &out.join(output::CURVES_FILE),
        &format!("learned meta-net V, seed {seed}"),
        &curves,
    )?;
    Ok(())
}

/// Builds one curve per reweight object that trained Meta-Weight-Net, labelled with
/// the methods that share it (cw-erm and cw-erm-constant differ only after
/// reweight, so they share one). The loss grid is 0 to the largest coreset
/// loss of any such object, or 0 to [`DEFAULT_MAX_LOSS`] when none records
/// its losses.
fn weight_curves(
    store: &Store,
    base: &Pipeline,
    runs: &[&CompletedRun],
) -> Result<Vec<WeightCurve>, CompareError> {
    let mut groups: Vec<(Digest, Vec<Method>)> = Vec::new();
    for run in runs.iter().filter(|run| run.method.trains_meta_net(base)) {
        let Some(object) = run.object(Stage::Reweight) else {
            continue;
        };
        match groups.iter_mut().find(|(digest, _)| *digest == object) {
            Some((_, methods)) => methods.push(run.method),
            None => groups.push((object, vec![run.method])),
        }
    }

    let mut nets = Vec::new();
    for (object, methods) in groups {
        if let Some(net) = LearnedMetaNet::read(store, &object)? {
            nets.push((object, methods, net));
        }
    }
    let max_loss = nets
        .iter()
        .filter_map(|(_, _, net)| net.max_loss)
        .filter(|loss| *loss > 0.0)
        .reduce(f64::max)
        .unwrap_or(DEFAULT_MAX_LOSS);

    nets.iter()
        .map(|(object, methods, net)| {
            let label = methods
                .iter()
                .map(|method| method.name())
                .collect::<Vec<_>>()
                .join(", ");
            let points = net.curve(max_loss, CURVE_POINTS, &store.object_path(object))?;
            Ok(WeightCurve { label, points })
        })
        .collect()
}
