//! Synthetic data shared by the tests: Gaussian clusters, one per class, with
//! seeded symmetric label noise.

#![allow(dead_code)]

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Synthetic {
    pub features: Tensor,
    pub labels: Vec<u32>,
    pub clean_labels: Vec<u32>,
    pub coreset: Vec<u32>,
    pub meta: Vec<u32>,
    pub classes: usize,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box-Muller transform.
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// `train_per_class` coreset rows and `meta_per_class` clean meta rows per
/// class, features `[N, dim]` around class means of norm `separation`, and a
/// fraction `noise` of the coreset labels flipped to a different class.
pub fn clusters(
    classes: usize,
    dim: usize,
    train_per_class: usize,
    meta_per_class: usize,
    separation: f32,
    noise: f64,
    seed: u64,
) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let means: Vec<Vec<f32>> = (0..classes)
        .map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| normal(&mut rng)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x * separation / norm).collect()
        })
        .collect();

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut clean_labels = Vec::new();
    let mut coreset = Vec::new();
    let mut meta = Vec::new();
    let per_class = train_per_class + meta_per_class;
    for row in 0..classes * per_class {
        let class = row % classes;
        values.extend(means[class].iter().map(|m| m + normal(&mut rng)));
        clean_labels.push(class as u32);
        let is_meta = row / classes < meta_per_class;
        let mut label = class as u32;
        if is_meta {
            meta.push(row as u32);
        } else {
            coreset.push(row as u32);
            if rng.random_bool(noise) {
                let shift = rng.random_range(1..classes as u32);
                label = (label + shift) % classes as u32;
            }
        }
        labels.push(label);
    }
    let features = Tensor::from_vec(values, (classes * per_class, dim), &Device::Cpu).unwrap();
    Synthetic {
        features,
        labels,
        clean_labels,
        coreset,
        meta,
        classes,
    }
}
