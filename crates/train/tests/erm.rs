//! Weighted ERM on synthetic Gaussian clusters: accuracy, normalisation,
//! reproducibility and input errors.

use candle_core::{Device, Tensor};
use cwerm_config::{LearnerKind, Normalize, TrainConfig};
use cwerm_train::erm::{ErmInput, train_weighted};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `rows` points in `classes` clusters of unit noise around means of norm 4
/// in 8 dimensions; row r belongs to class r mod classes.
fn clusters(rows: usize, classes: usize, seed: u64) -> (Tensor, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dim = 8;
    let means: Vec<Vec<f32>> = (0..classes)
        .map(|c| (0..dim).map(|d| if d == c { 4.0 } else { 0.0 }).collect())
        .collect();
    let mut values = Vec::with_capacity(rows * dim);
    for row in 0..rows {
        for mean in &means[row % classes] {
            values.push(mean + rng.random_range(-1.0f32..1.0));
        }
    }
    let labels = (0..rows).map(|r| (r % classes) as u32).collect();
    (
        Tensor::from_vec(values, (rows, dim), &Device::Cpu).unwrap(),
        labels,
    )
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 5,
        batch_size: 32,
        lr: 0.1,
        ..TrainConfig::default()
    }
}

#[test]
fn weighted_erm_learns_clusters() {
    let (features, labels) = clusters(400, 4, 0);
    let rows: Vec<u32> = (0..300).collect();
    let weights = vec![1.0; 300];
    let input = ErmInput {
        features: &features,
        labels: &labels,
        rows: &rows,
        weights: &weights,
        classes: 4,
    };
    let test = features.narrow(0, 300, 100).unwrap();
    let output = train_weighted(&input, Some(&test), &config(), 0).unwrap();

    let predictions = output.test_predictions.unwrap();
    let correct = predictions
        .iter()
        .zip(&labels[300..])
        .filter(|(p, l)| p == l)
        .count();
    assert!(correct >= 95, "{correct} of 100 correct");
    assert_eq!(output.epoch_losses.len(), 5);
    assert!(
        output.epoch_losses[4] < output.epoch_losses[0],
        "{:?}",
        output.epoch_losses
    );
}

#[test]
fn batch_sum_ignores_weight_scale() {
    let (features, labels) = clusters(120, 3, 1);
    let rows: Vec<u32> = (0..120).collect();
    let weights: Vec<f32> = (0..120).map(|i| 0.2 + (i % 5) as f32 * 0.2).collect();
    let tripled: Vec<f32> = weights.iter().map(|w| w * 3.0).collect();
    let train = |weights: &[f32], normalize| {
        let input = ErmInput {
            features: &features,
            labels: &labels,
            rows: &rows,
            weights,
            classes: 3,
        };
        let config = TrainConfig {
            normalize,
            learner: LearnerKind::Mlp,
            hidden: 8,
            ..config()
        };
        let output = train_weighted(&input, None, &config, 4).unwrap();
        let named = output.learner.named_tensors().unwrap();
        named[0].1.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };

    let base = train(&weights, Normalize::BatchSum);
    let scaled = train(&tripled, Normalize::BatchSum);
    let largest = base
        .iter()
        .zip(&scaled)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(largest < 1e-4, "largest difference {largest}");

    let unnormalised = train(&tripled, Normalize::None);
    assert_ne!(base, unnormalised);
}

#[test]
fn same_seed_gives_identical_parameters() {
    let (features, labels) = clusters(100, 3, 2);
    let rows: Vec<u32> = (0..100).collect();
    let weights = vec![0.5; 100];
    let input = ErmInput {
        features: &features,
        labels: &labels,
        rows: &rows,
        weights: &weights,
        classes: 3,
    };
    let params = |seed| {
        let output = train_weighted(&input, None, &config(), seed).unwrap();
        output
            .learner
            .named_tensors()
            .unwrap()
            .into_iter()
            .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .map(f32::to_bits)
            .collect::<Vec<_>>()
    };
    assert_eq!(params(3), params(3));
    assert_ne!(params(3), params(4));
}

#[test]
fn bad_inputs_are_rejected() {
    let (features, labels) = clusters(10, 2, 3);
    let rows: Vec<u32> = (0..10).collect();
    let run = |weights: &[f32], config: &TrainConfig| {
        let input = ErmInput {
            features: &features,
            labels: &labels,
            rows: &rows,
            weights,
            classes: 2,
        };
        train_weighted(&input, None, config, 0)
            .err()
            .unwrap()
            .to_string()
    };

    assert_eq!(
        run(&[0.0; 10], &config()),
        "every weight is 0, so the weighted loss is 0 and nothing would be learned"
    );
    let mut negative = [1.0f32; 10];
    negative[4] = -0.5;
    assert_eq!(
        run(&negative, &config()),
        "invalid weight -0.5 of row 4: weights must be finite and at least 0"
    );
    assert_eq!(
        run(&[1.0; 3], &config()),
        "weights has 3 values, expected 10"
    );
    let zero_lr = TrainConfig {
        lr: 0.0,
        ..config()
    };
    assert_eq!(
        run(&[1.0; 10], &zero_lr),
        "invalid lr 0: it must be finite and positive"
    );
}
