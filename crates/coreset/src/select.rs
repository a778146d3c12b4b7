//! The selection entry point: input checks, Moderate scores for every
//! training row, then the rows kept by the configured method.
//!
//! Shapes: features `[N, D]`, labels, clean labels and split `[N]`; output
//! indices `[M]` (ascending training rows) and scores `[N]`.

use cwerm_config::{SelectConfig, SelectMethod};
use rayon::prelude::*;

use crate::error::SelectError;
use crate::moderate::{class_prototype, class_quota, distance, middle_window};
use crate::random::stratified_sample;

/// Split code of training rows; only these are candidates.
const TRAIN_SPLIT: u8 = 0;

/// Highest valid split code (0 train, 1 meta, 2 test).
const MAX_SPLIT: u8 = 2;

/// Score of rows outside the training split.
const NOT_SCORED: f32 = -1.0;

/// Borrowed input of [`select`].
#[derive(Clone, Copy, Debug)]
pub struct SelectInput<'a> {
    /// Row-major features `[N, D]`.
    pub features: &'a [f32],
    /// Feature dimension `D`.
    pub dim: usize,
    /// Observed (possibly noisy) labels `[N]`; classes are taken from these.
    pub labels: &'a [u32],
    /// Split code per row `[N]`: 0 train, 1 meta, 2 test.
    pub split: &'a [u8],
    /// Number of classes `K`; every class 0..K needs a training row.
    pub num_classes: usize,
    /// Clean labels `[N]`, when known, to measure the noise inside the coreset.
    pub clean_labels: Option<&'a [u32]>,
}

/// Training rows and kept rows of one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassSize {
    /// Training rows with this observed label, `n_c`.
    pub train: usize,
    /// Rows of this class in the coreset, `k_c` (or `n_c` for `all`).
    pub kept: usize,
}

/// Share of training rows whose observed label differs from the clean label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseFractions {
    /// Inside the coreset.
    pub coreset: f64,
    /// Over the whole training split.
    pub train: f64,
}

/// Result of [`select`].
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Kept rows in ascending order `[M]`.
    pub indices: Vec<u32>,
    /// Distance of each training row to its class prototype `[N]`; -1 for
    /// meta and test rows. Filled for every method.
    pub scores: Vec<f32>,
    /// Per class 0..K.
    pub class_sizes: Vec<ClassSize>,
    /// Present when clean labels were given.
    pub noise: Option<NoiseFractions>,
}

/// Selects the coreset with `config.method` and `config.ratio`; `seed` drives
/// the `random` method only.
pub fn select(
    input: &SelectInput<'_>,
    config: &SelectConfig,
    seed: u64,
) -> Result<Selection, SelectError> {
    validate(input, config.ratio)?;

    let class_rows = training_rows_by_class(input)?;
    let scores = moderate_scores(input, &class_rows);

    let kept_by_class: Vec<Vec<usize>> = match config.method {
        SelectMethod::All => class_rows.clone(),
        SelectMethod::Moderate => class_rows
            .par_iter()
            .map(|rows| middle_window(rows, &scores, class_quota(config.ratio, rows.len())))
            .collect(),
        SelectMethod::Random => {
            let quotas: Vec<usize> = class_rows
                .iter()
                .map(|rows| class_quota(config.ratio, rows.len()))
                .collect();
            stratified_sample(&class_rows, &quotas, seed)
        }
    };

    let class_sizes = class_rows
        .iter()
        .zip(&kept_by_class)
        .map(|(rows, kept)| ClassSize {
            train: rows.len(),
            kept: kept.len(),
        })
        .collect();

    let mut indices: Vec<u32> = kept_by_class
        .iter()
        .flatten()
        .map(|&row| row as u32)
        .collect();
    indices.sort_unstable();

    let noise = input.clean_labels.map(|clean| NoiseFractions {
        coreset: flipped_fraction(input.labels, clean, indices.iter().map(|&row| row as usize)),
        train: flipped_fraction(input.labels, clean, class_rows.iter().flatten().copied()),
    });

    Ok(Selection {
        indices,
        scores,
        class_sizes,
        noise,
    })
}

/// Checks the ratio, the shapes, the labels, the split codes and that every
/// feature is finite.
fn validate(input: &SelectInput<'_>, ratio: f64) -> Result<(), SelectError> {
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(SelectError::InvalidRatio { ratio });
    }
    if input.dim == 0 {
        return Err(SelectError::ZeroDimension);
    }
    if input.num_classes == 0 {
        return Err(SelectError::NoClasses);
    }
    if !input.features.len().is_multiple_of(input.dim) {
        return Err(SelectError::RaggedFeatures {
            len: input.features.len(),
            dim: input.dim,
        });
    }

    let rows = input.features.len() / input.dim;
    if rows > u32::MAX as usize {
        return Err(SelectError::TooManyRows { rows });
    }
    check_length("labels", rows, input.labels.len())?;
    check_length("split", rows, input.split.len())?;
    if let Some(clean) = input.clean_labels {
        check_length("clean labels", rows, clean.len())?;
    }

    check_labels("label", input.labels, input.num_classes)?;
    if let Some(clean) = input.clean_labels {
        check_labels("clean label", clean, input.num_classes)?;
    }
    if let Some(row) = input.split.iter().position(|&code| code > MAX_SPLIT) {
        return Err(SelectError::InvalidSplit {
            row,
            code: input.split[row],
        });
    }

    check_finite(input.features, input.dim)
}

fn check_length(name: &'static str, expected: usize, found: usize) -> Result<(), SelectError> {
    if expected == found {
        Ok(())
    } else {
        Err(SelectError::LengthMismatch {
            name,
            expected,
            found,
        })
    }
}

fn check_labels(name: &'static str, labels: &[u32], num_classes: usize) -> Result<(), SelectError> {
    match labels
        .iter()
        .position(|&label| label as usize >= num_classes)
    {
        None => Ok(()),
        Some(row) => Err(SelectError::LabelOutOfRange {
            name,
            row,
            label: labels[row],
            num_classes,
        }),
    }
}

/// Names the first row (and its first column) holding NaN or an infinity.
fn check_finite(features: &[f32], dim: usize) -> Result<(), SelectError> {
    let bad_row = features
        .par_chunks(dim)
        .position_first(|row| row.iter().any(|value| !value.is_finite()));

    match bad_row {
        None => Ok(()),
        Some(row) => {
            let values = &features[row * dim..(row + 1) * dim];
            let column = values
                .iter()
                .position(|value| !value.is_finite())
                .unwrap_or(0);
            Err(SelectError::NonFiniteFeature {
                row,
                column,
                value: values[column],
            })
        }
    }
}

/// Groups the training rows by observed label, ascending within each class;
/// rejects a class 0..K without training rows.
fn training_rows_by_class(input: &SelectInput<'_>) -> Result<Vec<Vec<usize>>, SelectError> {
    // More classes than training rows leave a class empty; find it before
    // allocating one list per class.
    let train_rows = input
        .split
        .iter()
        .filter(|&&code| code == TRAIN_SPLIT)
        .count();
    if input.num_classes > train_rows {
        let mut present: Vec<u32> = input
            .labels
            .iter()
            .zip(input.split)
            .filter(|&(_, &code)| code == TRAIN_SPLIT)
            .map(|(&label, _)| label)
            .collect();
        present.sort_unstable();
        present.dedup();
        let class = present
            .iter()
            .enumerate()
            .find(|&(class, &label)| class as u32 != label)
            .map_or(present.len(), |(class, _)| class);
        return Err(SelectError::EmptyClass {
            class: class as u32,
            num_classes: input.num_classes,
        });
    }

    let mut class_rows = vec![Vec::new(); input.num_classes];
    for (row, (&label, &code)) in input.labels.iter().zip(input.split).enumerate() {
        if code == TRAIN_SPLIT {
            class_rows[label as usize].push(row);
        }
    }

    match class_rows.iter().position(Vec::is_empty) {
        None => Ok(class_rows),
        Some(class) => Err(SelectError::EmptyClass {
            class: class as u32,
            num_classes: input.num_classes,
        }),
    }
}

/// Computes each class's median prototype, then every training row's distance
/// to the prototype of its observed class; other rows get -1.
fn moderate_scores(input: &SelectInput<'_>, class_rows: &[Vec<usize>]) -> Vec<f32> {
    let dim = input.dim;
    let prototypes: Vec<Vec<f32>> = class_rows
        .par_iter()
        .map(|rows| class_prototype(input.features, dim, rows))
        .collect();

    let mut scores = vec![NOT_SCORED; input.labels.len()];
    scores.par_iter_mut().enumerate().for_each(|(row, score)| {
        if input.split[row] == TRAIN_SPLIT {
            let prototype = &prototypes[input.labels[row] as usize];
            *score = distance(&input.features[row * dim..(row + 1) * dim], prototype);
        }
    });
    scores
}

/// Share of `rows` whose observed label differs from the clean one; 0 when
/// `rows` is empty.
fn flipped_fraction(labels: &[u32], clean: &[u32], rows: impl Iterator<Item = usize>) -> f64 {
    let (mut flipped, mut total) = (0usize, 0usize);
    for row in rows {
        total += 1;
        if labels[row] != clean[row] {
            flipped += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        flipped as f64 / total as f64
    }
}
