//! Evaluation metrics: accuracy, confusion matrix, AUROC and weight summaries.
//!
//! Predictions and labels are u32 class indices `[N]`. The confusion matrix
//! is `[K, K]`, row-major, rows the true class and columns the predicted
//! class. AUROC is the Mann-Whitney statistic: the probability that a random
//! positive scores above a random negative, ties counting one half. For
//! learned weights the positives are rows whose observed label differs from
//! the clean label, scored by `1 - weight`, so 1 means every flipped row got
//! a lower weight than every clean row.

use std::cmp::Ordering;

/// Quantile levels reported by [`WeightSummary`].
pub const QUANTILE_LEVELS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Invalid input to a metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("{name} has {found} values, expected {expected}")]
    LengthMismatch {
        name: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("{name} is empty: expected at least one value")]
    Empty { name: &'static str },

    #[error("invalid number of classes 0: expected at least one class")]
    NoClasses,

    #[error(
        "invalid number of classes {num_classes}: a [K, K] confusion matrix of that size does not fit in memory"
    )]
    TooManyClasses { num_classes: usize },

    #[error("{name} {label} at index {index} is out of range for {num_classes} classes")]
    LabelOutOfRange {
        name: &'static str,
        index: usize,
        label: u32,
        num_classes: usize,
    },

    #[error("{name} at index {index} is {value}, expected a finite number")]
    NonFinite {
        name: &'static str,
        index: usize,
        value: f64,
    },
}

fn check_length(name: &'static str, expected: usize, found: usize) -> Result<(), MetricsError> {
    if expected == found {
        Ok(())
    } else {
        Err(MetricsError::LengthMismatch {
            name,
            expected,
            found,
        })
    }
}

fn check_finite(name: &'static str, values: &[f32]) -> Result<(), MetricsError> {
    match values.iter().position(|value| !value.is_finite()) {
        None => Ok(()),
        Some(index) => Err(MetricsError::NonFinite {
            name,
            index,
            value: f64::from(values[index]),
        }),
    }
}

/// Share of `predicted` equal to `truth`.
pub fn accuracy(predicted: &[u32], truth: &[u32]) -> Result<f64, MetricsError> {
    check_length("predictions", truth.len(), predicted.len())?;
    if truth.is_empty() {
        return Err(MetricsError::Empty { name: "labels" });
    }
    let correct = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / truth.len() as f64)
}

/// Counts of (true class, predicted class) pairs, `[K, K]` row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    num_classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Counts every (truth, predicted) pair; both must lie in `0..num_classes`.
    /// The matrix takes `8 * K^2` bytes.
    pub fn new(predicted: &[u32], truth: &[u32], num_classes: usize) -> Result<Self, MetricsError> {
        if num_classes == 0 {
            return Err(MetricsError::NoClasses);
        }
        check_length("predictions", truth.len(), predicted.len())?;
        if truth.is_empty() {
            return Err(MetricsError::Empty { name: "labels" });
        }
        for (name, labels) in [("label", truth), ("prediction", predicted)] {
            if let Some(index) = labels
                .iter()
                .position(|&label| label as usize >= num_classes)
            {
                return Err(MetricsError::LabelOutOfRange {
                    name,
                    index,
                    label: labels[index],
                    num_classes,
                });
            }
        }

        let cells = num_classes
            .checked_mul(num_classes)
            .filter(|&cells| cells <= isize::MAX as usize / size_of::<u64>())
            .ok_or(MetricsError::TooManyClasses { num_classes })?;
        let mut counts = vec![0u64; cells];
        for (&p, &t) in predicted.iter().zip(truth) {
            counts[t as usize * num_classes + p as usize] += 1;
        }
        Ok(Self {
            num_classes,
            counts,
        })
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Row-major `[K, K]` counts: rows the true class, columns the predicted class.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Rows of true class `truth` predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts[truth * self.num_classes + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Share of rows on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.num_classes)
            .map(|class| self.count(class, class))
            .sum();
        correct as f64 / self.total() as f64
    }

    /// Recall of each class: correct rows over rows of that true class;
    /// `None` for a class with no rows.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        (0..self.num_classes)
            .map(|class| {
                let row = &self.counts[class * self.num_classes..(class + 1) * self.num_classes];
                let total: u64 = row.iter().sum();
                (total > 0).then(|| row[class] as f64 / total as f64)
            })
            .collect()
    }
}

/// Computes the area under the ROC curve of `scores` for the binary target
/// `positive`, exactly from ranks, with ties counted as half. Returns `None`
/// when positives or negatives are absent.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Result<Option<f64>, MetricsError> {
    check_length("positive flags", scores.len(), positive.len())?;
    check_finite("score", scores)?;

    let positives = positive.iter().filter(|&&flag| flag).count() as u128;
    let negatives = positive.len() as u128 - positives;
    if positives == 0 || negatives == 0 {
        return Ok(None);
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(Ordering::Equal));

    // Twice the Mann-Whitney U, kept in integers: each positive earns 2 per
    // negative scored strictly below it and 1 per negative tied with it.
    let mut twice_u: u128 = 0;
    let mut negatives_below: u128 = 0;
    let mut start = 0;
    while start < order.len() {
        let value = scores[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| scores[i] == value)
                .count();
        let tied_positives = order[start..end].iter().filter(|&&i| positive[i]).count() as u128;
        let tied_negatives = (end - start) as u128 - tied_positives;

        twice_u += tied_positives * (2 * negatives_below + tied_negatives);
        negatives_below += tied_negatives;
        start = end;
    }

    Ok(Some(twice_u as f64 / (2 * positives * negatives) as f64))
}

/// Spread of a set of weights. `std` is the population standard deviation;
/// quantiles interpolate linearly between order statistics (position
/// `q * (n - 1)` in the sorted weights), at [`QUANTILE_LEVELS`].
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSummary {
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Values at [`QUANTILE_LEVELS`], in the same order.
    pub quantiles: [f64; 5],
}

/// Summarises non-empty, finite `weights`.
pub fn summarize_weights(weights: &[f32]) -> Result<WeightSummary, MetricsError> {
    if weights.is_empty() {
        return Err(MetricsError::Empty { name: "weights" });
    }
    check_finite("weight", weights)?;

    let mut sorted: Vec<f64> = weights.iter().map(|&weight| f64::from(weight)).collect();
    sorted.sort_unstable_by(f64::total_cmp);

    let count = sorted.len();
    let mean = sorted.iter().sum::<f64>() / count as f64;
    let variance = sorted
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>()
        / count as f64;

    Ok(WeightSummary {
        count,
        mean,
        std: variance.sqrt(),
        min: sorted[0],
        max: sorted[count - 1],
        quantiles: QUANTILE_LEVELS.map(|level| quantile(&sorted, level)),
    })
}

/// Linear-interpolation quantile of ascending, non-empty `sorted` at `level` in [0, 1].
fn quantile(sorted: &[f64], level: f64) -> f64 {
    let position = level * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let fraction = position - lower as f64;
    sorted[lower] + fraction * (sorted[upper] - sorted[lower])
}

/// Weights of clean rows against rows whose observed label was flipped.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsByNoise {
    /// All rows.
    pub all: WeightSummary,
    /// Rows whose observed label equals the clean label; `None` when there are none.
    pub clean: Option<WeightSummary>,
    /// Rows whose observed label differs; `None` when there are none.
    pub flipped: Option<WeightSummary>,
    /// AUROC of `1 - weight` as the score of "label is flipped".
    pub auroc: Option<f64>,
}

/// Compares the weights `[T]` of clean and flipped rows, given the observed
/// and clean labels of the same rows `[T]`.
pub fn weights_by_noise(
    weights: &[f32],
    observed: &[u32],
    clean: &[u32],
) -> Result<WeightsByNoise, MetricsError> {
    check_length("observed labels", weights.len(), observed.len())?;
    check_length("clean labels", weights.len(), clean.len())?;
    let all = summarize_weights(weights)?;

    let flipped: Vec<bool> = observed.iter().zip(clean).map(|(o, c)| o != c).collect();
    let pick = |want: bool| -> Vec<f32> {
        weights
            .iter()
            .zip(&flipped)
            .filter(|&(_, &flag)| flag == want)
            .map(|(&weight, _)| weight)
            .collect()
    };
    let summary_of = |values: Vec<f32>| {
        (!values.is_empty())
            .then(|| summarize_weights(&values))
            .transpose()
    };

    // `-weight` ranks rows exactly as `1 - weight` does, without the rounding
    // that can merge nearby weights into one f32 value.
    let scores: Vec<f32> = weights.iter().map(|&weight| -weight).collect();
    Ok(WeightsByNoise {
        all,
        clean: summary_of(pick(false))?,
        flipped: summary_of(pick(true))?,
        auroc: auroc(&scores, &flipped)?,
    })
}
