//! `cwerm-embed-merge`: joins the shards written by `cwerm-embed --shard k/n`
//! into the embed object that an unsharded run writes, byte for byte.

use std::process::ExitCode;

use clap::Parser;
use cwerm_stages::StageArgs;

/// Joins embed shards 0/n .. (n-1)/n into the embed object and record.
#[derive(Parser)]
#[command(name = "cwerm-embed-merge", version)]
struct Cli {
    #[command(flatten)]
    args: StageArgs,

    /// Number of shards n that `cwerm-embed --shard k/n` wrote.
    #[arg(long, value_name = "N")]
    shards: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cwerm_stages::embed_merge_main(&cli.args, cli.shards)
}
