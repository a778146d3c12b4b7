//! `cwerm-embed`: the embed stage binary. It parses its arguments and runs
//! the stage, or one shard of it, through `cwerm_stages`, which prints one
//! `ran`/`cached` line. The exit code is 2 for pipeline file errors and 1 for
//! other errors.

use std::process::ExitCode;

use clap::Parser;
use cwerm_stages::{Shard, StageArgs};

/// Maps every prepared image to a feature vector with the `[embed]` encoder.
#[derive(Parser)]
#[command(name = "cwerm-embed", version)]
struct Cli {
    #[command(flatten)]
    args: StageArgs,

    /// Embed only shard k of n (0 <= k < n): rows k*N/n .. (k+1)*N/n. Join
    /// the shards with `cwerm embed-merge --shards n`.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cwerm_stages::embed_main(&cli.args, cli.shard)
}
