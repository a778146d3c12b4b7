//! Benchmark of coreset selection at Fashion-MNIST scale.
//!
//! Generates seeded features `[70000, 1280]` f32 for 10 classes (59,900
//! training rows, 100 meta rows, 10,000 test rows), then times `select` for
//! each method at ratio 0.01 and prints the median, minimum and maximum wall
//! time over the runs. Build with `--release`; the run count is the first
//! argument (default 7).

use std::time::Instant;

use cwerm_config::{SelectConfig, SelectMethod};
use cwerm_coreset::{SelectInput, select};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

const ROWS: usize = 70_000;
const DIM: usize = 1280;
const CLASSES: usize = 10;
const TRAIN_ROWS: usize = 59_900;
const META_ROWS: usize = 100;
const RATIO: f64 = 0.01;

fn main() {
    let runs: usize = match std::env::args().nth(1) {
        None => 7,
        Some(text) => match text.parse() {
            Ok(runs) if runs > 0 => runs,
            _ => {
                eprintln!("invalid run count {text:?}: expected a positive integer");
                std::process::exit(2);
            }
        },
    };

    let started = Instant::now();
    let (features, labels, split) = generate();
    println!(
        "generated features [{ROWS}, {DIM}] in {:.2} s, {} rayon threads",
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );

    let input = SelectInput {
        features: &features,
        dim: DIM,
        labels: &labels,
        split: &split,
        num_classes: CLASSES,
        clean_labels: None,
    };

    for method in [
        SelectMethod::Moderate,
        SelectMethod::Random,
        SelectMethod::All,
    ] {
        let config = SelectConfig {
            method,
            ratio: RATIO,
        };
        let mut seconds = Vec::with_capacity(runs);
        let mut kept = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let selection = match select(&input, &config, 0) {
                Ok(selection) => selection,
                Err(error) => {
                    eprintln!("select failed: {error}");
                    std::process::exit(1);
                }
            };
            seconds.push(started.elapsed().as_secs_f64());
            kept = selection.indices.len();
        }
        seconds.sort_by(f64::total_cmp);
        println!(
            "{method:?} ratio {RATIO}: kept {kept} rows; median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs",
            seconds[runs / 2],
            seconds[0],
            seconds[runs - 1]
        );
    }
}

/// Returns features, labels and split codes. Row r has class r mod 10; its
/// features are the class centre (uniform in [0, 1) per column) plus uniform
/// noise in [0, 2), drawn from a ChaCha8 stream seeded with the row index.
fn generate() -> (Vec<f32>, Vec<u32>, Vec<u8>) {
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

    let labels = (0..ROWS).map(|row| (row % CLASSES) as u32).collect();
    let split = (0..ROWS)
        .map(|row| match row {
            r if r < TRAIN_ROWS => 0,
            r if r < TRAIN_ROWS + META_ROWS => 1,
            _ => 2,
        })
        .collect();
    (features, labels, split)
}
