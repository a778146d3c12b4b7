//! `cwerm-bench-embed`: measures EfficientNet-Lite0 embedding throughput
//! (images per second, resize included) at several resolutions on Fashion-MNIST
//! images, and optionally the wall time and peak memory (VmHWM) of embedding
//! all 70,000 images. Build with `--release`; figures are medians over repeats.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use cwerm_encoder::{Encoder, ImageShape, Lite0Encoder, Progress, embed_all};

/// Benchmark the EfficientNet-Lite0 encoder on Fashion-MNIST images.
#[derive(Parser)]
#[command(name = "cwerm-bench-embed")]
struct Args {
    /// Safetensors weights written by scripts/fetch-weights.sh.
    #[arg(long, default_value = "data/weights/efficientnet-lite0.safetensors")]
    weights: PathBuf,
    /// Folder with the gzipped Fashion-MNIST IDX files (scripts/fetch-data.sh).
    #[arg(long, default_value = "data/fashion-mnist")]
    data: PathBuf,
    /// Worker threads of the rayon pool.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Square input sides in pixels to time.
    #[arg(long, value_delimiter = ',', default_value = "64,96,224")]
    resolutions: Vec<u32>,
    /// Images embedded per timed run at 96 px; scaled by (96 / R)^2 at other resolutions.
    #[arg(long, default_value_t = 1024)]
    images: usize,
    /// Timed runs per resolution; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Also embed all 70,000 images at this resolution and report wall time and peak memory.
    #[arg(long)]
    full: Option<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .context("building the rayon pool")?;

    let train = read_idx_images(&args.data.join("train-images-idx3-ubyte.gz"))?;
    let test = read_idx_images(&args.data.join("t10k-images-idx3-ubyte.gz"))?;
    let shape = ImageShape::new(28, 28, 1);
    println!(
        "threads {}, batch {}, {} train + {} test images",
        args.threads,
        args.batch_size,
        train.len() / shape.len(),
        test.len() / shape.len()
    );

    for &resolution in &args.resolutions {
        let encoder = Lite0Encoder::load(&args.weights, resolution, shape)?;
        let count =
            ((args.images as f64) * (96.0 / f64::from(resolution)).powi(2)).round() as usize;
        let count = count.clamp(args.batch_size, test.len() / shape.len());
        let images = &test[..count * shape.len()];
        embed_all(
            &encoder,
            &images[..args.batch_size * shape.len()],
            args.batch_size,
            Progress::Hidden,
        )?;

        let mut rates = Vec::new();
        for _ in 0..args.repeats {
            let start = Instant::now();
            embed_all(&encoder, images, args.batch_size, Progress::Hidden)?;
            rates.push(count as f64 / start.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        let runs: Vec<String> = rates.iter().map(|rate| format!("{rate:.0}")).collect();
        println!(
            "{resolution} px: median {:.0} images/s over {} runs of {count} images ({})",
            rates[rates.len() / 2],
            args.repeats,
            runs.join(", ")
        );
    }

    if let Some(resolution) = args.full {
        let mut all = train;
        all.extend_from_slice(&test);
        let count = all.len() / shape.len();
        let encoder = Lite0Encoder::load(&args.weights, resolution, shape)?;
        let start = Instant::now();
        let features = embed_all(&encoder, &all, args.batch_size, Progress::Auto)?;
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(features.len(), count * encoder.dim());
        println!(
            "all {count} images at {resolution} px: {seconds:.1} s ({:.0} images/s), peak memory (VmHWM) {}",
            count as f64 / seconds,
            peak_memory()?
        );
    }
    Ok(())
}

/// Reads a gzipped IDX image file (magic 0x00000803) into u8 `[N, 28, 28]`.
fn read_idx_images(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open; run scripts/fetch-data.sh", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: invalid gzip", path.display()))?;
    if bytes.len() < 16 || bytes[..4] != [0, 0, 8, 3] {
        bail!("{}: not an IDX image file", path.display());
    }
    let field = |at: usize| {
        u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    let (count, rows, columns) = (field(4), field(8), field(12));
    if (rows, columns) != (28, 28) || bytes.len() != 16 + count * rows * columns {
        bail!(
            "{}: expected {count} images of 28x28 after the header",
            path.display()
        );
    }
    Ok(bytes.split_off(16))
}

/// The `VmHWM` line of /proc/self/status: the peak resident set size.
fn peak_memory() -> anyhow::Result<String> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line.trim_start_matches("VmHWM:").trim().to_string())
}
