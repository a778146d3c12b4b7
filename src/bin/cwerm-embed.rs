//! `cwerm-embed`: the embed stage binary. It parses its arguments and
//! runs the stage through `cwerm_stages`, which prints one `ran`/`cached` line.
//! The exit code is 2 for pipeline file errors and 1 for other errors.

use std::process::ExitCode;

use clap::Parser;
use cwerm_config::Stage;
use cwerm_stages::StageArgs;

/// Maps every prepared image to a feature vector with the `[embed]` encoder.
#[derive(Parser)]
#[command(name = "cwerm-embed", version)]
struct Cli {
    #[command(flatten)]
    args: StageArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cwerm_stages::stage_main(Stage::Embed, &cli.args)
}
