//! Seeded label noise on the training split.
//!
//! `symmetric`: with probability p the label becomes a uniformly chosen
//! different class. `pair`: with probability p class c becomes
//! `(c + 1) mod K`. Only rows with split 0 are touched; meta and test rows
//! keep their clean labels.
//!
//! Draws: every training row, in row order, takes a uniform `u` in [0, 1)
//! and then a uniform `r` in `0..K-1`, whether or not it flips. The row flips
//! when `u < p`; under `symmetric` its new label is `r`, or `r + 1` when
//! `r >= c`, which skips the clean class. Because every row takes the same
//! draws, a higher rate with the same seed flips a superset of the rows.

use cwerm_config::NoiseKind;

use crate::dataset::SPLIT_TRAIN;
use crate::error::DataError;
use crate::rng::{Draws, Stream};

/// Replaces labels of training rows by noisy ones; returns the number flipped.
pub(crate) fn inject_noise(
    labels: &mut [u32],
    split: &[u8],
    kind: NoiseKind,
    rate: f64,
    num_classes: usize,
    seed: u64,
) -> Result<usize, DataError> {
    if kind == NoiseKind::None || rate == 0.0 {
        return Ok(0);
    }
    if num_classes < 2 {
        return Err(DataError::InvalidConfig {
            key: "noise",
            expected: "at least 2 classes to corrupt labels",
            found: format!("{num_classes} class(es)"),
        });
    }

    let mut draws = Draws::new(seed, Stream::Noise);
    let classes = num_classes as u32;
    let mut flipped = 0;
    for (label, _) in labels
        .iter_mut()
        .zip(split)
        .filter(|&(_, &split)| split == SPLIT_TRAIN)
    {
        let u = draws.unit();
        let other = draws.below(u64::from(classes - 1)) as u32;
        if u >= rate {
            continue;
        }
        *label = match kind {
            NoiseKind::Symmetric if other >= *label => other + 1,
            NoiseKind::Symmetric => other,
            NoiseKind::Pair => (*label + 1) % classes,
            NoiseKind::None => *label,
        };
        flipped += 1;
    }
    Ok(flipped)
}
