//! Benchmark of Meta-Weight-Net on seeded random features (1280-d, 10 classes):
//! one meta iteration of the linear and MLP learners at batch 100, the whole
//! stage on a 1% coreset (599 rows, the default 3000 steps) and, with `--full`,
//! on a full training set (59,900 rows, 10 epochs = 5990 steps, the W-ERM
//! budget). Prints medians and the peak resident memory (VmHWM).
//!
//! Run: `cargo run --release -p cwerm-reweight --bin cwerm-bench-reweight -- [--full] [--iterations N]`

use std::time::Instant;

use candle_core::{Device, Tensor};
use cwerm_config::{LearnerKind, ReweightConfig};
use cwerm_learners::{Adam, MetaNet, Sgd, build_learner};
use cwerm_reweight::{Batch, MetaWeightNet, ReweightInput, reweight};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DIM: usize = 1280;
const CLASSES: usize = 10;
const META_ROWS: usize = 100;

/// Seeded features uniform in [0, 1) and labels uniform over the classes.
fn random_data(rows: usize, seed: u64) -> (Tensor, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..rows * DIM).map(|_| rng.random::<f32>()).collect();
    let labels = (0..rows)
        .map(|_| rng.random_range(0..CLASSES as u32))
        .collect();
    let features = Tensor::from_vec(values, (rows, DIM), &Device::Cpu).expect("features");
    (features, labels)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn bench_iteration(kind: LearnerKind, iterations: usize) -> f64 {
    let (features, labels) = random_data(200, 1);
    let labels = Tensor::new(labels.as_slice(), &Device::Cpu).expect("labels");
    let batch = Batch {
        inputs: features.narrow(0, 0, 100).expect("batch"),
        labels: labels.narrow(0, 0, 100).expect("batch"),
    };
    let meta = Batch {
        inputs: features.narrow(0, 100, 100).expect("meta batch"),
        labels: labels.narrow(0, 100, 100).expect("meta batch"),
    };
    let mut model = MetaWeightNet {
        learner: build_learner(kind, DIM, CLASSES, 256, 0).expect("learner"),
        meta_net: MetaNet::new(100, 1, 0).expect("meta-net"),
        // A small learning rate keeps the random problem stable over many iterations.
        learner_optimizer: Sgd::new(1e-3, 0.9, 0.05).expect("sgd"),
        meta_optimizer: Adam::new(1e-3, 1e-4).expect("adam"),
    };
    for step in 0..5 {
        model.step(&batch, &meta, 0, step).expect("warm-up step");
    }
    let times = (0..iterations)
        .map(|step| {
            let start = Instant::now();
            model.step(&batch, &meta, 0, step).expect("step");
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(times)
}

fn bench_stage(name: &str, train_rows: usize, steps: u32) {
    let (features, labels) = random_data(train_rows + META_ROWS, 2);
    let coreset: Vec<u32> = (0..train_rows as u32).collect();
    let meta: Vec<u32> = (train_rows as u32..(train_rows + META_ROWS) as u32).collect();
    let input = ReweightInput {
        features: &features,
        labels: &labels,
        clean_labels: None,
        coreset: &coreset,
        meta: &meta,
        classes: CLASSES,
    };
    let config = ReweightConfig {
        steps,
        lr: 1e-3,
        ..ReweightConfig::default()
    };
    let start = Instant::now();
    let output = reweight(&input, &config, 0).expect("reweight");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "stage {name}: {train_rows} rows, {steps} steps, {seconds:.2} s ({:.2} ms/step), {} weights, peak RSS {:.0} MiB",
        seconds * 1e3 / f64::from(steps),
        output.weights.len(),
        peak_memory_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--full");
    let iterations = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .map_or(200, |n| n.parse().expect("--iterations takes a count"));

    for (name, kind) in [
        ("linear", LearnerKind::Linear),
        ("mlp 1280-256-10", LearnerKind::Mlp),
    ] {
        let ms = bench_iteration(kind, iterations);
        println!("iteration {name}, batch 100: median {ms:.2} ms over {iterations} iterations");
    }
    bench_stage("1% coreset", 599, 3000);
    if full {
        bench_stage("full training set", 59_900, 5990);
    }
}
