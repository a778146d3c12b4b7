//! `cwerm-torchbench`: the cwerm side of the cwerm-versus-PyTorch benchmark in bench/.
//!
//! It does the work of `bench/torch_side.py` with cwerm's libraries, on the same
//! inputs file (written by `torch_side.py make-inputs`) and with the same subcommands:
//!
//! - `features`, `time-embed`: EfficientNet-Lite0 features through
//!   `cwerm_encoder::Lite0Encoder`, u8 images `[N, 28, 28, 1]` to f32 `[N, 1280]`,
//!   resize included, `--batch-size` images per call.
//! - `meta-gradient`, `time-meta-step`: Meta-Weight-Net iterations through
//!   `cwerm_reweight::MetaWeightNet` (finite-difference meta-gradient), batch and meta
//!   batch of 100 features `[100, 1280]`, the linear head or the MLP 1280-256-10.
//! - `time-train`: weighted SGD steps `mean(w_i l_i)` on shuffled batches of 128 rows
//!   with a cosine learning rate, through `cwerm_learners`.
//!
//! Timing subcommands print one JSON line: the seconds of every timed repeat, the work
//! per repeat and the peak resident set size (VmHWM) in KiB. The thread count comes from
//! `RAYON_NUM_THREADS`, which both rayon and candle's CPU kernels read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand, ValueEnum};
use cwerm_encoder::{Encoder, ImageShape, Lite0Encoder};
use cwerm_learners::{Adam, Learner, Linear, MetaNet, Mlp, Sgd};
use cwerm_reweight::{Batch, MetaWeightNet, gradients};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

// Meta-Weight-Net and final-training settings: the defaults of the [reweight] and
// [train] pipeline sections, as in bench/torch_side.py.
const MWN_LR: f64 = 0.1;
const MWN_MOMENTUM: f64 = 0.9;
const MWN_WEIGHT_DECAY: f64 = 0.05;
const META_LR: f64 = 1e-3;
const META_WEIGHT_DECAY: f64 = 1e-4;
const TRAIN_BATCH: usize = 128;
const TRAIN_LR: f64 = 0.1;
const TRAIN_MOMENTUM: f64 = 0.9;
const TRAIN_WEIGHT_DECAY: f64 = 5e-4;

/// Fashion-MNIST images in the inputs file: 28x28 grey.
const IMAGE_SHAPE: ImageShape = ImageShape {
    height: 28,
    width: 28,
    channels: 1,
};

/// The cwerm side of the cwerm-versus-PyTorch benchmark.
#[derive(Parser)]
#[command(name = "cwerm-torchbench")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LearnerChoice {
    Linear,
    Mlp,
}

#[derive(clap::Args)]
struct Timing {
    /// Untimed repeats before the timed ones.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed repeats.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Write Lite0 features `[count, 1280]` of the first images as `features`.
    Features {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        resolution: u32,
        #[arg(long, default_value_t = 8)]
        count: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the first iteration's meta-gradients and the parameters after one step.
    MetaGradient {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, value_enum)]
        learner: LearnerChoice,
        #[arg(long)]
        out: PathBuf,
    },
    /// Time Lite0 inference, resize included.
    TimeEmbed {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        resolution: u32,
        /// Images embedded per repeat.
        #[arg(long, default_value_t = 256)]
        images: usize,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Time whole Meta-Weight-Net iterations.
    TimeMetaStep {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, value_enum)]
        learner: LearnerChoice,
        /// Iterations per repeat.
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        #[command(flatten)]
        timing: Timing,
    },
    /// Time weighted SGD steps on batches of 128 rows.
    TimeTrain {
        #[arg(long)]
        inputs: PathBuf,
        #[arg(long, value_enum)]
        learner: LearnerChoice,
        /// Steps per repeat.
        #[arg(long, default_value_t = 200)]
        steps: usize,
        #[command(flatten)]
        timing: Timing,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Features {
            inputs,
            weights,
            resolution,
            count,
            batch_size,
            out,
        } => {
            let images = read_images(&load_inputs(&inputs)?, count)?;
            let encoder = Lite0Encoder::load(&weights, resolution, IMAGE_SHAPE)?;
            let features = embed(&encoder, &images, batch_size)?;
            let features = Tensor::from_vec(features, (count, encoder.dim()), &Device::Cpu)?;
            save(&[("features", features)], &out)
        }
        Command::MetaGradient {
            inputs,
            learner,
            out,
        } => meta_gradient(&load_inputs(&inputs)?, learner, &out),
        Command::TimeEmbed {
            inputs,
            weights,
            resolution,
            images,
            batch_size,
            timing,
        } => {
            let pixels = read_images(&load_inputs(&inputs)?, images)?;
            let encoder = Lite0Encoder::load(&weights, resolution, IMAGE_SHAPE)?;
            let seconds = time_repeats(&timing, || embed(&encoder, &pixels, batch_size).map(drop))?;
            emit("time-embed", &seconds, images, "images")
        }
        Command::TimeMetaStep {
            inputs,
            learner,
            iterations,
            timing,
        } => {
            let tensors = load_inputs(&inputs)?;
            let (batch, meta) = mwn_batches(&tensors)?;
            let mut net = meta_weight_net(&tensors, learner)?;
            let mut step = 0;
            let seconds = time_repeats(&timing, || {
                for _ in 0..iterations {
                    net.step(&batch, &meta, 0, step)?;
                    step += 1;
                }
                Ok(())
            })?;
            emit("time-meta-step", &seconds, iterations, "iterations")
        }
        Command::TimeTrain {
            inputs,
            learner,
            steps,
            timing,
        } => time_train(&load_inputs(&inputs)?, learner, steps, &timing),
    }
}

fn load_inputs(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu).with_context(|| {
        format!(
            "reading the inputs file {}; write it with `bench/torch_side.py make-inputs`",
            path.display()
        )
    })
}

fn tensor<'a>(tensors: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    tensors
        .get(name)
        .with_context(|| format!("tensor `{name}` missing from the inputs file"))
}

/// The first `count` images of `images` `[N, 28, 28, 1]` as one flat u8 slice.
fn read_images(tensors: &HashMap<String, Tensor>, count: usize) -> Result<Vec<u8>> {
    let images = tensor(tensors, "images")?;
    let available = images.dim(0)?;
    if count > available {
        bail!("{count} images requested, but the inputs file contains only {available}");
    }
    Ok(images.narrow(0, 0, count)?.flatten_all()?.to_vec1::<u8>()?)
}

/// Embeds `images` `batch_size` at a time, as the embed stage calls the encoder.
fn embed(encoder: &Lite0Encoder, images: &[u8], batch_size: usize) -> Result<Vec<f32>> {
    let mut features = Vec::with_capacity(images.len() / IMAGE_SHAPE.len() * encoder.dim());
    for chunk in images.chunks(batch_size * IMAGE_SHAPE.len()) {
        features.extend(encoder.embed(chunk)?);
    }
    Ok(features)
}

fn learner_from(
    tensors: &HashMap<String, Tensor>,
    choice: LearnerChoice,
) -> Result<Box<dyn Learner>> {
    Ok(match choice {
        LearnerChoice::Linear => Box::new(Linear::from_named(tensors)?),
        LearnerChoice::Mlp => Box::new(Mlp::from_named(tensors)?),
    })
}

fn meta_weight_net(
    tensors: &HashMap<String, Tensor>,
    choice: LearnerChoice,
) -> Result<MetaWeightNet> {
    Ok(MetaWeightNet {
        learner: learner_from(tensors, choice)?,
        meta_net: MetaNet::from_named(tensors)?,
        learner_optimizer: Sgd::new(MWN_LR, MWN_MOMENTUM, MWN_WEIGHT_DECAY)?,
        meta_optimizer: Adam::new(META_LR, META_WEIGHT_DECAY)?,
    })
}

fn mwn_batches(tensors: &HashMap<String, Tensor>) -> Result<(Batch, Batch)> {
    let batch = |features: &str, labels: &str| -> Result<Batch> {
        Ok(Batch {
            inputs: tensor(tensors, features)?.clone(),
            labels: tensor(tensors, labels)?.clone(),
        })
    };
    Ok((
        batch("train_features", "train_labels")?,
        batch("meta_features", "meta_labels")?,
    ))
}

/// Writes the per-example losses, weights, `dL_meta/dv_i`, the meta-net gradient
/// and the meta loss of the first iteration, then the parameters after one step.
fn meta_gradient(
    tensors: &HashMap<String, Tensor>,
    choice: LearnerChoice,
    out: &Path,
) -> Result<()> {
    let (batch, meta) = mwn_batches(tensors)?;
    let mut net = meta_weight_net(tensors, choice)?;

    let losses = net
        .learner
        .per_example_losses(&batch.inputs, &batch.labels)?;
    let weights = net.meta_net.weights(&losses.detach())?;
    let gradient = net.meta_gradient(&batch, &meta, &weights.detach())?;
    let surrogate = weights.mul(&gradient.per_weight)?.sum_all()?;
    let meta_grads = gradients(&surrogate, net.meta_net.parameters())?;

    let mut named = vec![
        ("losses".to_string(), losses.detach()),
        ("weights".to_string(), weights.detach()),
        ("per_weight".to_string(), gradient.per_weight.clone()),
        (
            "meta_loss".to_string(),
            Tensor::new(&[gradient.meta_loss], &Device::Cpu)?,
        ),
    ];
    for ((name, _), grad) in net.meta_net.named_tensors()?.into_iter().zip(meta_grads) {
        named.push((format!("grad.{name}"), grad));
    }

    net.step(&batch, &meta, 0, 0)?;
    for (name, value) in net
        .learner
        .named_tensors()?
        .into_iter()
        .chain(net.meta_net.named_tensors()?)
    {
        named.push((format!("after.{name}"), value));
    }
    let named: Vec<(&str, Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    save(&named, out)
}

fn time_train(
    tensors: &HashMap<String, Tensor>,
    choice: LearnerChoice,
    steps: usize,
    timing: &Timing,
) -> Result<()> {
    let features = tensor(tensors, "erm_features")?;
    let labels = tensor(tensors, "erm_labels")?;
    let row_weights = tensor(tensors, "erm_weights")?;
    let rows = features.dim(0)?;
    if rows < TRAIN_BATCH {
        bail!("erm_features holds {rows} rows, fewer than one batch of {TRAIN_BATCH}");
    }
    let learner = learner_from(tensors, choice)?;
    let mut sgd = Sgd::new(TRAIN_LR, TRAIN_MOMENTUM, TRAIN_WEIGHT_DECAY)?;
    let total_steps = (timing.warmup + timing.repeats) * steps;

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut order: Vec<u32> = (0..rows as u32).collect();
    order.shuffle(&mut rng);
    let mut cursor = 0;
    let mut step = 0;
    let seconds = time_repeats(timing, || {
        for _ in 0..steps {
            if cursor + TRAIN_BATCH > rows {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            let index = Tensor::from_slice(
                &order[cursor..cursor + TRAIN_BATCH],
                TRAIN_BATCH,
                &Device::Cpu,
            )?;
            cursor += TRAIN_BATCH;

            let progress = step as f64 / total_steps as f64;
            sgd.set_learning_rate(
                0.5 * TRAIN_LR * (1.0 + (std::f64::consts::PI * progress).cos()),
            )?;
            let losses = learner.per_example_losses(
                &features.index_select(&index, 0)?,
                &labels.index_select(&index, 0)?,
            )?;
            let loss = losses
                .mul(&row_weights.index_select(&index, 0)?)?
                .mean_all()?;
            let grads = gradients(&loss, learner.parameters())?;
            sgd.step(learner.parameters(), &grads)?;
            step += 1;
        }
        Ok(())
    })?;
    emit("time-train", &seconds, steps, "steps")
}

/// Runs `work` for the warm-up and timed repeats and returns the timed seconds.
fn time_repeats(timing: &Timing, mut work: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    let mut seconds = Vec::with_capacity(timing.repeats);
    for repeat in 0..timing.warmup + timing.repeats {
        let start = Instant::now();
        work()?;
        if repeat >= timing.warmup {
            seconds.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(seconds)
}

fn save(named: &[(&str, Tensor)], out: &Path) -> Result<()> {
    let map: HashMap<String, Tensor> = named
        .iter()
        .map(|(name, tensor)| Ok((name.to_string(), tensor.to_dtype(DType::F32)?.contiguous()?)))
        .collect::<Result<_>>()?;
    candle_core::safetensors::save(&map, out).with_context(|| format!("writing {}", out.display()))
}

/// Returns the peak resident set size of this process (VmHWM) in KiB.
fn vm_hwm_kib() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .context("VmHWM missing from /proc/self/status")
}

fn emit(command: &str, seconds: &[f64], work: usize, unit: &str) -> Result<()> {
    let threads = std::env::var("RAYON_NUM_THREADS").ok();
    let record = serde_json::json!({
        "side": "cwerm",
        "command": command,
        "seconds": seconds,
        "work": work,
        "unit": unit,
        "vm_hwm_kib": vm_hwm_kib()?,
        "threads": threads.and_then(|t| t.parse::<u64>().ok()),
    });
    println!("{record}");
    Ok(())
}
