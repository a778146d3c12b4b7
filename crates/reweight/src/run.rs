//! The reweight stage as a pure function: features, labels, coreset and meta
//! rows in; the weights of the rows trained on, the trained meta-net and
//! learner, per-epoch curves and diagnostics out.
//!
//! Rows are indices into `features` `[N, D]`, the rows of the prepare artifact.
//! One seed drives everything: the learner and meta-net initialisation, the
//! coreset carve, the epoch shuffles and the meta batches.

use std::collections::BTreeSet;

use candle_core::Tensor;
use cwerm_config::{MetaSource, ReweightConfig, ReweightMethod};
use cwerm_learners::{Adam, MetaNet, Sgd, build_learner};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batches::{carve_meta_from_coreset, epoch_batches, meta_batch};
use crate::diagnostics::{self, COLLAPSE_MEAN, COLLAPSE_SPREAD};
use crate::step::{Batch, MetaWeightNet};
use crate::{Result, ReweightError};

/// Rows per forward pass when the final weights are computed.
const EVAL_CHUNK: usize = 4096;

/// Inputs of the stage. `labels` are the observed (possibly noisy) labels of
/// every row; `clean_labels`, when known, only feed the curves and diagnostics.
pub struct ReweightInput<'a> {
    /// Features `[N, D]`, f32.
    pub features: &'a Tensor,
    pub labels: &'a [u32],
    pub clean_labels: Option<&'a [u32]>,
    /// Coreset rows (training rows chosen by the select stage).
    pub coreset: &'a [u32],
    /// Trusted meta rows; unused when `meta = "coreset"` or `method = "uniform"`.
    pub meta: &'a [u32],
    pub classes: usize,
}

/// Means over one epoch of the steps taken in it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub steps: usize,
    /// Unweighted mean per-example training loss.
    pub train_loss: f64,
    /// Meta loss at the virtual parameters.
    pub meta_loss: f64,
    pub mean_weight: f64,
    /// Mean weight of rows whose observed label equals the clean label.
    pub clean_weight: Option<f64>,
    /// Mean weight of rows whose observed label was flipped.
    pub flipped_weight: Option<f64>,
}

/// Checks of the final weighting. The guards log a warning and record it here
/// instead of failing the stage.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostics {
    /// Seed of the run whose result is returned.
    pub seed: u64,
    /// Runs made, 1 plus the retries used.
    pub attempts: u32,
    /// Spearman correlation of weight against loss over the rows trained on.
    pub spearman: f64,
    /// Least-squares slope of weight against loss.
    pub slope: f64,
    pub mean_weight: f64,
    pub weight_std: f64,
    /// The weight grows with the loss (Spearman > 0): noisy rows would be favoured.
    pub inverted: bool,
    /// Weight spread below [`COLLAPSE_SPREAD`] or mean below [`COLLAPSE_MEAN`].
    pub collapsed: bool,
    /// AUROC of `1 - weight` for flipped rows, when clean labels are known and both kinds occur.
    pub auroc_flipped: Option<f64>,
    pub clean_weight: Option<f64>,
    pub flipped_weight: Option<f64>,
    /// The warnings that were logged, as text.
    pub warnings: Vec<String>,
}

/// Output of the stage.
pub struct ReweightOutput {
    /// Rows trained on, ascending.
    pub indices: Vec<u32>,
    /// `V(l_i)` of each row under the final learner, in the order of `indices`.
    pub weights: Vec<f32>,
    /// Final per-example losses of the rows, in the order of `indices`.
    pub losses: Vec<f32>,
    /// Meta rows used, ascending.
    pub meta_indices: Vec<u32>,
    /// Named learner parameters (`learner.*`); empty for `uniform`.
    pub learner: Vec<(String, Tensor)>,
    /// Named meta-net parameters (`meta_net.*`); empty for `uniform`.
    pub meta_net: Vec<(String, Tensor)>,
    pub curves: Vec<EpochRecord>,
    pub diagnostics: Diagnostics,
}

/// Runs the stage; with `method = "meta-weight-net"` and the inverted guard
/// firing, reruns with `seed + 1`, ... up to `retries` times and returns the
/// first run that is not inverted, or the last run.
pub fn reweight(
    input: &ReweightInput,
    config: &ReweightConfig,
    seed: u64,
) -> Result<ReweightOutput> {
    check_input(input)?;
    if config.method == ReweightMethod::Uniform {
        return Ok(uniform(input, seed));
    }
    check_config(config)?;

    let mut attempt = 0;
    loop {
        let run_seed = seed.wrapping_add(u64::from(attempt));
        let mut output = run_meta_weight_net(input, config, run_seed)?;
        output.diagnostics.attempts = attempt + 1;
        if !output.diagnostics.inverted || attempt >= config.retries {
            return Ok(output);
        }
        tracing::warn!(
            seed = run_seed,
            "rerunning Meta-Weight-Net with seed {} after an inverted weighting",
            run_seed + 1
        );
        attempt += 1;
    }
}

fn uniform(input: &ReweightInput, seed: u64) -> ReweightOutput {
    let mut indices = input.coreset.to_vec();
    indices.sort_unstable();
    let weights = vec![1.0; indices.len()];
    ReweightOutput {
        losses: Vec::new(),
        meta_indices: Vec::new(),
        learner: Vec::new(),
        meta_net: Vec::new(),
        curves: Vec::new(),
        diagnostics: Diagnostics {
            seed,
            attempts: 0,
            spearman: 0.0,
            slope: 0.0,
            mean_weight: 1.0,
            weight_std: 0.0,
            inverted: false,
            collapsed: false,
            auroc_flipped: None,
            clean_weight: None,
            flipped_weight: None,
            warnings: Vec::new(),
        },
        indices,
        weights,
    }
}

fn run_meta_weight_net(
    input: &ReweightInput,
    config: &ReweightConfig,
    seed: u64,
) -> Result<ReweightOutput> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let learner_seed = rng.next_u64();
    let meta_net_seed = rng.next_u64();

    let (train_rows, meta_rows) = split_rows(input, config, &mut rng)?;
    check_meta_classes(input.labels, &train_rows, &meta_rows)?;

    let features = input.features.dim(1)?;
    let learner = build_learner(
        config.learner,
        features,
        input.classes,
        config.hidden as usize,
        learner_seed,
    )?;
    let mut model = MetaWeightNet {
        learner,
        meta_net: MetaNet::new(
            config.meta_hidden as usize,
            config.meta_depth as usize,
            meta_net_seed,
        )?,
        learner_optimizer: Sgd::new(config.lr, config.momentum, config.weight_decay)?,
        meta_optimizer: Adam::new(config.meta_lr, config.meta_weight_decay)?,
    };

    let curves = train(input, config, &mut model, &train_rows, &meta_rows, &mut rng)?;

    let (weights, losses) = final_weights(input, &model, &train_rows)?;
    let diagnostics = diagnose(input, &train_rows, &weights, &losses, seed);

    Ok(ReweightOutput {
        learner: model.learner.named_tensors()?,
        meta_net: model.meta_net.named_tensors()?,
        indices: train_rows,
        weights,
        losses,
        meta_indices: meta_rows,
        curves,
        diagnostics,
    })
}

/// Returns the rows to train on and the meta rows, both ascending.
fn split_rows(
    input: &ReweightInput,
    config: &ReweightConfig,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<u32>, Vec<u32>)> {
    match config.meta {
        MetaSource::Coreset => carve_meta_from_coreset(input.coreset, input.labels, rng),
        MetaSource::Trusted => {
            let mut train = input.coreset.to_vec();
            train.sort_unstable();
            let mut meta = input.meta.to_vec();
            meta.sort_unstable();
            if let Some(&row) = meta.iter().find(|row| train.binary_search(row).is_ok()) {
                return Err(ReweightError::MetaOverlapsCoreset { row });
            }
            Ok((train, meta))
        }
    }
}

/// Runs `config.steps` iterations and returns the per-epoch means.
fn train(
    input: &ReweightInput,
    config: &ReweightConfig,
    model: &mut MetaWeightNet,
    train_rows: &[u32],
    meta_rows: &[u32],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<EpochRecord>> {
    let batch_size = config.batch_size as usize;
    let total_steps = config.steps as usize;
    let progress = progress_bar(total_steps as u64);
    let mut curves = Vec::new();
    let mut step = 0;

    while step < total_steps {
        let epoch = curves.len();
        let mut sums = EpochSums::default();
        for rows in epoch_batches(train_rows, batch_size, rng) {
            if step == total_steps {
                break;
            }
            let batch = gather(input, &rows)?;
            let meta = gather(input, &meta_batch(meta_rows, batch_size, rng))?;
            let record = model.step(&batch, &meta, epoch, step)?;
            sums.add(
                input,
                &rows,
                &record.weights,
                record.train_loss,
                record.meta_loss,
            );

            step += 1;
            progress.inc(1);
            if step % 10 == 0 || step == total_steps {
                progress.set_message(format!(
                    "meta loss {:.3}, mean weight {:.3}",
                    record.meta_loss,
                    sums.weight_mean()
                ));
            }
        }
        let record = sums.finish(epoch);
        tracing::debug!(
            epoch,
            train_loss = record.train_loss,
            meta_loss = record.meta_loss,
            mean_weight = record.mean_weight,
            "Meta-Weight-Net epoch"
        );
        curves.push(record);
    }
    progress.finish_and_clear();
    Ok(curves)
}

#[derive(Default)]
struct EpochSums {
    steps: usize,
    train_loss: f64,
    meta_loss: f64,
    weight: (f64, usize),
    clean: (f64, usize),
    flipped: (f64, usize),
}

impl EpochSums {
    fn add(
        &mut self,
        input: &ReweightInput,
        rows: &[u32],
        weights: &[f32],
        train_loss: f32,
        meta_loss: f32,
    ) {
        self.steps += 1;
        self.train_loss += f64::from(train_loss);
        self.meta_loss += f64::from(meta_loss);
        for (&row, &weight) in rows.iter().zip(weights) {
            let weight = f64::from(weight);
            self.weight.0 += weight;
            self.weight.1 += 1;
            if let Some(clean) = input.clean_labels {
                let bucket = if clean[row as usize] == input.labels[row as usize] {
                    &mut self.clean
                } else {
                    &mut self.flipped
                };
                bucket.0 += weight;
                bucket.1 += 1;
            }
        }
    }

    fn weight_mean(&self) -> f64 {
        ratio(self.weight).unwrap_or(0.0)
    }

    fn finish(&self, epoch: usize) -> EpochRecord {
        let steps = self.steps.max(1) as f64;
        EpochRecord {
            epoch,
            steps: self.steps,
            train_loss: self.train_loss / steps,
            meta_loss: self.meta_loss / steps,
            mean_weight: self.weight_mean(),
            clean_weight: ratio(self.clean),
            flipped_weight: ratio(self.flipped),
        }
    }
}

fn ratio((sum, count): (f64, usize)) -> Option<f64> {
    (count > 0).then(|| sum / count as f64)
}

/// Computes `V(l_i)` and `l_i` for `rows` with the final learner, in chunks.
fn final_weights(
    input: &ReweightInput,
    model: &MetaWeightNet,
    rows: &[u32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut weights = Vec::with_capacity(rows.len());
    let mut losses = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(EVAL_CHUNK) {
        let batch = gather(input, chunk)?;
        let chunk_losses = model
            .learner
            .per_example_losses(&batch.inputs, &batch.labels)?
            .detach();
        let chunk_losses_vec: Vec<f32> = chunk_losses.to_vec1()?;
        if let Some(position) = chunk_losses_vec.iter().position(|l| !l.is_finite()) {
            return Err(ReweightError::NonFiniteFinalLoss {
                row: chunk[position],
            });
        }
        weights.extend(model.meta_net.weights(&chunk_losses)?.to_vec1::<f32>()?);
        losses.extend(chunk_losses_vec);
    }
    Ok((weights, losses))
}

fn diagnose(
    input: &ReweightInput,
    rows: &[u32],
    weights: &[f32],
    losses: &[f32],
    seed: u64,
) -> Diagnostics {
    let weights: Vec<f64> = weights.iter().map(|&w| f64::from(w)).collect();
    let losses: Vec<f64> = losses.iter().map(|&l| f64::from(l)).collect();
    let spearman = diagnostics::spearman(&losses, &weights);
    let slope = diagnostics::slope(&losses, &weights);
    let mean_weight = diagnostics::mean(&weights);
    let weight_std = diagnostics::std_dev(&weights);
    let mut warnings = Vec::new();

    let inverted = spearman > 0.0;
    if inverted {
        let text = format!(
            "inverted weighting: weight grows with loss (Spearman {spearman:.3}, slope {slope:.4}), so high-loss rows such as flipped labels are favoured"
        );
        tracing::warn!(seed, "{text}");
        warnings.push(text);
    }
    let collapsed = weight_std < COLLAPSE_SPREAD || mean_weight < COLLAPSE_MEAN;
    if collapsed {
        let text = format!(
            "collapsed weighting: weight mean {mean_weight:.4}, standard deviation {weight_std:.4} (thresholds: mean {COLLAPSE_MEAN}, deviation {COLLAPSE_SPREAD}); the weights barely differ from a constant"
        );
        tracing::warn!(seed, "{text}");
        warnings.push(text);
    }

    let (mut auroc_flipped, mut clean_weight, mut flipped_weight) = (None, None, None);
    if let Some(clean) = input.clean_labels {
        let flipped: Vec<bool> = rows
            .iter()
            .map(|&r| clean[r as usize] != input.labels[r as usize])
            .collect();
        let scores: Vec<f64> = weights.iter().map(|w| 1.0 - w).collect();
        auroc_flipped = diagnostics::auroc(&scores, &flipped);
        let pick = |want: bool| -> Vec<f64> {
            weights
                .iter()
                .zip(&flipped)
                .filter(|(_, f)| **f == want)
                .map(|(w, _)| *w)
                .collect()
        };
        let (clean_w, flipped_w) = (pick(false), pick(true));
        clean_weight = (!clean_w.is_empty()).then(|| diagnostics::mean(&clean_w));
        flipped_weight = (!flipped_w.is_empty()).then(|| diagnostics::mean(&flipped_w));
    }
    tracing::info!(
        seed,
        spearman,
        mean_weight,
        weight_std,
        ?auroc_flipped,
        "Meta-Weight-Net finished"
    );

    Diagnostics {
        seed,
        attempts: 1,
        spearman,
        slope,
        mean_weight,
        weight_std,
        inverted,
        collapsed,
        auroc_flipped,
        clean_weight,
        flipped_weight,
        warnings,
    }
}

/// Selects `rows` of the features and labels.
fn gather(input: &ReweightInput, rows: &[u32]) -> Result<Batch> {
    let device = input.features.device();
    let index = Tensor::new(rows, device)?;
    let labels: Vec<u32> = rows.iter().map(|&r| input.labels[r as usize]).collect();
    Ok(Batch {
        inputs: input.features.index_select(&index, 0)?,
        labels: Tensor::new(labels.as_slice(), device)?,
    })
}

fn progress_bar(steps: u64) -> ProgressBar {
    // indicatif draws nothing when stderr is not a terminal.
    let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("reweight {bar:30} {pos}/{len} steps, {msg} [{elapsed}<{eta}]")
    {
        bar.set_style(style);
    }
    bar
}

fn check_input(input: &ReweightInput) -> Result<()> {
    let rows = input.features.dim(0)?;
    if input.labels.len() != rows {
        return Err(ReweightError::LabelCount {
            expected: rows,
            found: input.labels.len(),
        });
    }
    if let Some(clean) = input.clean_labels
        && clean.len() != rows
    {
        return Err(ReweightError::LabelCount {
            expected: rows,
            found: clean.len(),
        });
    }
    if input.coreset.is_empty() {
        return Err(ReweightError::EmptyCoreset);
    }
    for (set, members) in [("coreset", input.coreset), ("meta set", input.meta)] {
        let mut seen = BTreeSet::new();
        for &row in members {
            if row as usize >= rows {
                return Err(ReweightError::RowOutOfRange { row, rows });
            }
            if !seen.insert(row) {
                return Err(ReweightError::DuplicateRow { row, set });
            }
            let label = input.labels[row as usize];
            if label as usize >= input.classes {
                return Err(ReweightError::LabelOutOfRange {
                    row,
                    label,
                    classes: input.classes,
                });
            }
        }
    }
    Ok(())
}

fn check_meta_classes(labels: &[u32], train: &[u32], meta: &[u32]) -> Result<()> {
    if meta.is_empty() {
        return Err(ReweightError::EmptyMetaSet);
    }
    let meta_classes: BTreeSet<u32> = meta.iter().map(|&r| labels[r as usize]).collect();
    if let Some(&row) = train
        .iter()
        .find(|&&r| !meta_classes.contains(&labels[r as usize]))
    {
        return Err(ReweightError::ClassMissingFromMetaSet {
            class: labels[row as usize],
            meta_classes: meta_classes.into_iter().collect(),
        });
    }
    Ok(())
}

fn check_config(config: &ReweightConfig) -> Result<()> {
    let positive = "finite and positive";
    let checks: [(&'static str, f64, bool, &'static str); 8] = [
        ("lr", config.lr, config.lr > 0.0, positive),
        ("meta_lr", config.meta_lr, config.meta_lr > 0.0, positive),
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
            "meta_weight_decay",
            config.meta_weight_decay,
            config.meta_weight_decay >= 0.0,
            "finite and at least 0",
        ),
        (
            "steps",
            f64::from(config.steps),
            config.steps > 0,
            "at least 1",
        ),
        (
            "batch_size",
            f64::from(config.batch_size),
            config.batch_size > 0,
            "at least 1",
        ),
        (
            "meta_hidden",
            f64::from(config.meta_hidden),
            config.meta_hidden > 0 || config.meta_depth == 0,
            "at least 1",
        ),
    ];
    for (name, value, ok, expected) in checks {
        if !(ok && value.is_finite()) {
            return Err(ReweightError::InvalidSetting {
                name,
                value,
                expected,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn constant_weights_count_as_collapsed() {
        let features = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let labels = [0u32, 1, 1];
        let clean = [0u32, 1, 0];
        let input = ReweightInput {
            features: &features,
            labels: &labels,
            clean_labels: Some(&clean),
            coreset: &[0, 1, 2],
            meta: &[],
            classes: 2,
        };
        let diagnostics = diagnose(&input, &[0, 1, 2], &[0.5, 0.5, 0.5], &[0.1, 0.2, 0.3], 4);
        assert!(diagnostics.collapsed);
        assert!(!diagnostics.inverted);
        assert_eq!(diagnostics.auroc_flipped, Some(0.5));
        assert_eq!(diagnostics.flipped_weight, Some(0.5));
        assert_eq!(
            diagnostics.warnings,
            [
                "collapsed weighting: weight mean 0.5000, standard deviation 0.0000 (thresholds: mean 0.05, deviation 0.01); the weights barely differ from a constant"
            ]
        );
    }

    #[test]
    fn weights_rising_with_loss_count_as_inverted() {
        let features = Tensor::zeros((3, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let labels = [0u32, 1, 1];
        let input = ReweightInput {
            features: &features,
            labels: &labels,
            clean_labels: None,
            coreset: &[0, 1, 2],
            meta: &[],
            classes: 2,
        };
        let diagnostics = diagnose(&input, &[0, 1, 2], &[0.2, 0.5, 0.9], &[0.1, 0.2, 0.3], 4);
        assert!(diagnostics.inverted);
        assert!(!diagnostics.collapsed);
        assert_eq!(diagnostics.spearman, 1.0);
        assert_eq!(diagnostics.auroc_flipped, None);
    }
}
