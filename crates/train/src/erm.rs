//! Weighted empirical risk minimisation: train a learner on features with one
//! weight per row, by SGD with momentum and L2 weight decay (PyTorch
//! semantics) under a cosine learning-rate schedule from `lr` to 0.
//!
//! Loss per batch: `mean(w_i l_i)`, or `sum(w_i l_i) / sum(w_i)` with
//! `normalize = "batch-sum"` (a batch whose weights are all 0 then has loss 0).
//! Inputs: features `[N, D]` f32, labels u32 `[N]`, the rows trained on `[T]`
//! and their weights `[T]`; optional test features `[M, D]`. Outputs: the
//! trained learner, the mean batch loss per epoch and the test predictions.

use candle_core::{D, Tensor};
use cwerm_config::{Normalize, TrainConfig};
use cwerm_learners::{Learner, LearnerError, Sgd, build_learner};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows per forward pass when predicting.
const PREDICT_CHUNK: usize = 4096;

/// Errors of weighted ERM; each variant carries the value that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErmError {
    #[error(transparent)]
    Learner(#[from] LearnerError),

    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),

    #[error("no rows to train on")]
    NoRows,

    #[error("{name} has {found} values, expected {expected}")]
    LengthMismatch {
        name: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("row {row} is out of range: the features have {rows} rows")]
    RowOutOfRange { row: u32, rows: usize },

    #[error("label {label} of row {row} is out of range for {classes} classes")]
    LabelOutOfRange {
        row: u32,
        label: u32,
        classes: usize,
    },

    #[error("invalid weight {weight} of row {row}: weights must be finite and at least 0")]
    InvalidWeight { row: u32, weight: f32 },

    #[error("every weight is 0, so the weighted loss is 0 and nothing would be learned")]
    AllZeroWeights,

    #[error("invalid {name} {value}: it must be {expected}")]
    InvalidSetting {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },

    #[error("test features have {found} columns, expected {expected} as in the training features")]
    TestDimension { expected: usize, found: usize },

    #[error("non-finite loss at epoch {epoch}, step {step}; lower `lr`")]
    NonFiniteLoss { epoch: usize, step: usize },
}

/// The rows to train on and their weights.
pub struct ErmInput<'a> {
    /// Features `[N, D]`, f32.
    pub features: &'a Tensor,
    /// Observed labels of every feature row `[N]`.
    pub labels: &'a [u32],
    /// Rows trained on `[T]`.
    pub rows: &'a [u32],
    /// Weight of each trained row `[T]`, finite and at least 0.
    pub weights: &'a [f32],
    pub classes: usize,
}

/// Result of [`train_weighted`].
pub struct ErmOutput {
    pub learner: Box<dyn Learner>,
    /// Mean batch loss of each epoch, under the loss being minimised.
    pub epoch_losses: Vec<f64>,
    /// Arg-max class of each test row, when test features were given.
    pub test_predictions: Option<Vec<u32>>,
}

/// Learning rate of step `step` of `total`: `lr * (1 + cos(pi * step / total)) / 2`,
/// as PyTorch's `CosineAnnealingLR` with `T_max = total` and `eta_min = 0`.
pub fn cosine_learning_rate(lr: f64, step: usize, total: usize) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}

/// Trains a fresh learner of `config.learner` on the weighted rows; `seed`
/// drives the initialisation and the epoch shuffles.
pub fn train_weighted(
    input: &ErmInput,
    test_features: Option<&Tensor>,
    config: &TrainConfig,
    seed: u64,
) -> Result<ErmOutput, ErmError> {
    check_config(config)?;
    check_input(input)?;
    let dim = input.features.dim(1)?;
    if let Some(test) = test_features
        && test.dim(1)? != dim
    {
        return Err(ErmError::TestDimension {
            expected: dim,
            found: test.dim(1)?,
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let learner = build_learner(
        config.learner,
        dim,
        input.classes,
        config.hidden as usize,
        rng.next_u64(),
    )?;
    let mut optimizer = Sgd::new(config.lr, config.momentum, config.weight_decay)?;

    let batch_size = config.batch_size as usize;
    let epochs = config.epochs as usize;
    let total_steps = epochs * input.rows.len().div_ceil(batch_size);
    let mut order: Vec<usize> = (0..input.rows.len()).collect();
    let mut epoch_losses = Vec::with_capacity(epochs);
    let mut step = 0;

    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        let mut batches = 0;
        for positions in order.chunks(batch_size) {
            optimizer.set_learning_rate(cosine_learning_rate(config.lr, step, total_steps))?;
            let loss = batch_loss(input, learner.as_ref(), positions, config.normalize)?;
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(ErmError::NonFiniteLoss { epoch, step });
            }
            let grads = gradients(&loss, learner.parameters())?;
            optimizer.step(learner.parameters(), &grads)?;

            loss_sum += f64::from(value);
            batches += 1;
            step += 1;
        }
        let mean = loss_sum / f64::from(batches);
        tracing::debug!(epoch, loss = mean, "weighted ERM epoch");
        epoch_losses.push(mean);
    }

    let test_predictions = test_features
        .map(|features| predict(learner.as_ref(), features))
        .transpose()?;
    Ok(ErmOutput {
        learner,
        epoch_losses,
        test_predictions,
    })
}

/// Returns the arg-max class of every row of `features` `[M, D]`.
pub fn predict(learner: &dyn Learner, features: &Tensor) -> Result<Vec<u32>, ErmError> {
    let rows = features.dim(0)?;
    let mut predictions = Vec::with_capacity(rows);
    let mut start = 0;
    while start < rows {
        let len = PREDICT_CHUNK.min(rows - start);
        let logits = learner.forward(&features.narrow(0, start, len)?)?.detach();
        predictions.extend(logits.argmax(D::Minus1)?.to_vec1::<u32>()?);
        start += len;
    }
    Ok(predictions)
}

fn batch_loss(
    input: &ErmInput,
    learner: &dyn Learner,
    positions: &[usize],
    normalize: Normalize,
) -> Result<Tensor, ErmError> {
    let device = input.features.device();
    let rows: Vec<u32> = positions.iter().map(|&p| input.rows[p]).collect();
    let labels: Vec<u32> = rows.iter().map(|&r| input.labels[r as usize]).collect();
    let weights: Vec<f32> = positions.iter().map(|&p| input.weights[p]).collect();

    let inputs = input
        .features
        .index_select(&Tensor::new(rows.as_slice(), device)?, 0)?;
    let losses = learner.per_example_losses(&inputs, &Tensor::new(labels.as_slice(), device)?)?;
    let weighted = losses
        .mul(&Tensor::new(weights.as_slice(), device)?)?
        .sum_all()?;
    let denominator = match normalize {
        Normalize::None => weights.len() as f64,
        // The smallest positive f32 keeps an all-zero batch at loss 0 instead of NaN.
        Normalize::BatchSum => f64::from(weights.iter().sum::<f32>().max(f32::MIN_POSITIVE)),
    };
    Ok(weighted.affine(1.0 / denominator, 0.0)?)
}

fn gradients(loss: &Tensor, vars: &[candle_core::Var]) -> Result<Vec<Tensor>, ErmError> {
    let store = loss.backward()?;
    vars.iter()
        .map(|var| match store.get(var.as_tensor()) {
            Some(grad) => Ok(grad.clone()),
            None => Ok(var.as_tensor().zeros_like()?),
        })
        .collect()
}

fn check_config(config: &TrainConfig) -> Result<(), ErmError> {
    let checks: [(&'static str, f64, bool, &'static str); 5] = [
        ("lr", config.lr, config.lr > 0.0, "finite and positive"),
        (
            "momentum",
            config.momentum,
            (0.0..1.0).contains(&config.momentum),
            "in [0, 1)",
        ),
        (
            "weight_decay",
            config.weight_decay,
            config.weight_decay >= 0.0,
            "finite and at least 0",
        ),
        (
            "epochs",
            f64::from(config.epochs),
            config.epochs > 0,
            "at least 1",
        ),
        (
            "batch_size",
            f64::from(config.batch_size),
            config.batch_size > 0,
            "at least 1",
        ),
    ];
    for (name, value, ok, expected) in checks {
        if !(ok && value.is_finite()) {
            return Err(ErmError::InvalidSetting {
                name,
                value,
                expected,
            });
        }
    }
    Ok(())
}

fn check_input(input: &ErmInput) -> Result<(), ErmError> {
    let rows = input.features.dim(0)?;
    if input.labels.len() != rows {
        return Err(ErmError::LengthMismatch {
            name: "labels",
            expected: rows,
            found: input.labels.len(),
        });
    }
    if input.rows.is_empty() {
        return Err(ErmError::NoRows);
    }
    if input.weights.len() != input.rows.len() {
        return Err(ErmError::LengthMismatch {
            name: "weights",
            expected: input.rows.len(),
            found: input.weights.len(),
        });
    }
    for (&row, &weight) in input.rows.iter().zip(input.weights) {
        if row as usize >= rows {
            return Err(ErmError::RowOutOfRange { row, rows });
        }
        let label = input.labels[row as usize];
        if label as usize >= input.classes {
            return Err(ErmError::LabelOutOfRange {
                row,
                label,
                classes: input.classes,
            });
        }
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(ErmError::InvalidWeight { row, weight });
        }
    }
    if input.weights.iter().all(|&w| w == 0.0) {
        return Err(ErmError::AllZeroWeights);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_runs_from_lr_towards_zero() {
        assert_eq!(cosine_learning_rate(0.1, 0, 10), 0.1);
        assert!((cosine_learning_rate(0.1, 5, 10) - 0.05).abs() < 1e-12);
        assert!(cosine_learning_rate(0.1, 9, 10) < 0.003);
        assert!(cosine_learning_rate(0.1, 10, 10).abs() < 1e-12);
    }
}
