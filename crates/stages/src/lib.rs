//! Pipeline stages: cache keys, planning, stage bodies, and every store read
//! and write around them, so that the stage binaries only parse arguments.
//!
//! A stage run ([`run_stage`]) first computes its cache key with
//! [`Planner::key`], following the recipe in [`inputs`]. It skips the stage
//! when a record for the key exists and its object verifies. Otherwise it
//! loads and verifies the upstream objects, calls the stage body, and writes
//! the object and then the record. Each body is one function in its own module:
//! [`prepare::run`], [`embed::run`], [`select::run`], [`reweight::run`],
//! [`train::run`], with the signature
//! `fn(&StageContext) -> Result<StageOutput, StageError>`, plus a
//! `FORMAT_VERSION` constant that enters the stage's key.

mod cli;
mod context;
mod convert;
mod error;
mod execute;
pub mod inputs;
mod planner;
mod shard;
mod upstream;

pub mod embed;
pub mod prepare;
pub mod reweight;
pub mod select;
pub mod train;
mod train_metrics;

pub use cli::{
    StageArgs, embed_main, embed_merge_main, init_logging, run_stage_command, stage_main,
};
pub use context::{StageContext, StageOutput};
pub use error::StageError;
pub use execute::{Body, METRICS_KIND, StageRun, run_stage, run_stage_with};
pub use inputs::SourceFile;
pub use planner::{Planner, StageKey, StagePlan, StageState, status_line};
pub use shard::{Shard, ShardRun, merge_embed_shards, run_embed_shard};

use cwerm_config::Stage;

/// The artifact format version of a stage's object; it enters the cache key,
/// so bumping it makes every old output of that stage stale.
pub fn format_version(stage: Stage) -> u32 {
    match stage {
        Stage::Prepare => prepare::FORMAT_VERSION,
        Stage::Embed => embed::FORMAT_VERSION,
        Stage::Select => select::FORMAT_VERSION,
        Stage::Reweight => reweight::FORMAT_VERSION,
        Stage::Train => train::FORMAT_VERSION,
    }
}

/// Calls the body of `stage`.
pub(crate) fn run_body(
    stage: Stage,
    context: &StageContext<'_>,
) -> Result<StageOutput, StageError> {
    match stage {
        Stage::Prepare => prepare::run(context),
        Stage::Embed => embed::run(context),
        Stage::Select => select::run(context),
        Stage::Reweight => reweight::run(context),
        Stage::Train => train::run(context),
    }
}
