//! Benchmark of the neighbour-based broadcast rules at Fashion-MNIST scale.
//!
//! Features are seeded, `[70000, 1280]` f32 for 10 classes. The targets are
//! the 59,900 training rows, and the sources are every 101st of them (594
//! rows, about a 1% coreset, all ten classes) with seeded weights. The benchmark times
//! `nearest`, `nearest-same-label` and `knn` (k = 5) and prints the median,
//! minimum and maximum over the runs.
//! Run with `cargo bench -p cwerm-train --bench broadcast -- [runs]`.

use std::time::Instant;

use cwerm_train::broadcast::{BroadcastInput, Rule, broadcast};
use cwerm_train::neighbors::SearchConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const ROWS: usize = 70_000;
const DIM: usize = 1280;
const CLASSES: usize = 10;
const TRAIN_ROWS: usize = 59_900;
/// Every 101st row, so the sources cover all ten classes (row r has class r mod 10).
const SOURCE_STRIDE: usize = 101;

fn main() {
    // `cargo bench` passes `--bench`; the run count is the first plain number.
    let runs = std::env::args()
        .skip(1)
        .find_map(|argument| argument.parse::<usize>().ok())
        .filter(|&runs| runs > 0)
        .unwrap_or(3);

    let features = generate_features();
    let labels: Vec<u32> = (0..ROWS).map(|row| (row % CLASSES) as u32).collect();
    let targets: Vec<u32> = (0..TRAIN_ROWS as u32).collect();
    let sources: Vec<u32> = (0..TRAIN_ROWS as u32).step_by(SOURCE_STRIDE).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let source_weights: Vec<f32> = sources.iter().map(|_| rng.random::<f32>()).collect();

    let input = BroadcastInput {
        features: &features,
        dim: DIM,
        labels: &labels,
        targets: &targets,
        sources: &sources,
        source_weights: &source_weights,
    };
    let search = SearchConfig::default();
    println!(
        "{} targets, {} sources, D = {DIM}, {} rayon threads, blocks {} x {}",
        targets.len(),
        sources.len(),
        rayon::current_num_threads(),
        search.query_block,
        search.candidate_block
    );

    for name in ["nearest", "nearest-same-label", "knn k=5"] {
        let rule = || match name {
            "nearest" => Rule::Nearest,
            "nearest-same-label" => Rule::NearestSameLabel,
            _ => Rule::Knn { k: 5 },
        };
        let mut seconds = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            if let Err(error) = broadcast(&input, rule(), &search) {
                eprintln!("broadcast failed: {error}");
                std::process::exit(1);
            }
            seconds.push(started.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        println!(
            "{name}: median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs",
            seconds[runs / 2],
            seconds[0],
            seconds[runs - 1]
        );
    }
}

/// Row r has class r mod 10: the class centre (uniform in [0, 1) per column)
/// plus uniform noise in [0, 2), from a ChaCha8 stream seeded with the row.
fn generate_features() -> Vec<f32> {
    let mut centre_rng = ChaCha8Rng::seed_from_u64(0);
    let centres: Vec<f32> = (0..CLASSES * DIM)
        .map(|_| centre_rng.random::<f32>())
        .collect();

    let mut features = vec![0.0f32; ROWS * DIM];
    features
        .par_chunks_mut(DIM)
        .enumerate()
        .for_each(|(row, values)| {
            let mut rng = ChaCha8Rng::seed_from_u64(row as u64 + 1);
            let centre = &centres[(row % CLASSES) * DIM..(row % CLASSES + 1) * DIM];
            for (value, &mean) in values.iter_mut().zip(centre) {
                *value = mean + 2.0 * rng.random::<f32>();
            }
        });
    features
}
