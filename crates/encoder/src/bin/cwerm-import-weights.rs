//! `cwerm-import-weights SRC.pth DST.safetensors`: converts the legacy torch
//! checkpoint of EfficientNet-Lite0 to safetensors with the original key names,
//! dropping the `num_batches_tracked` counters. The output is written atomically.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cwerm_encoder::{ExpectedCounts, import_weights};

/// Convert the EfficientNet-Lite0 legacy torch checkpoint to safetensors.
#[derive(Parser)]
#[command(name = "cwerm-import-weights")]
struct Args {
    /// Legacy (pre-zip) torch checkpoint, e.g. efficientnet-lite0-57934424.pth.
    src: PathBuf,
    /// Safetensors file to write.
    dst: PathBuf,
}

/// Prints one `error:` line and exits 1 on failure, like the stage binaries.
fn main() -> ExitCode {
    let args = Args::parse();
    let summary = match import_weights(&args.src, &args.dst, ExpectedCounts::EFFICIENTNET_LITE0) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!(
                "error: importing {} into {} failed: {error}",
                args.src.display(),
                args.dst.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "wrote {}: {} tensors, {} values ({} num_batches_tracked counters dropped)",
        args.dst.display(),
        summary.tensors,
        summary.values,
        summary.dropped
    );
    ExitCode::SUCCESS
}
