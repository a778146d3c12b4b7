//! Seeded batching: shuffled epochs over the training rows, meta batches
//! sampled from the meta set, and the class-balanced meta part carved out of
//! the coreset for `meta = "coreset"`.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::{Result, ReweightError};

/// Fraction of each coreset class carved out as meta rows for `meta = "coreset"`.
pub const CARVE_FRACTION: f64 = 0.1;

/// Splits the coreset into rows to train on and meta rows, per observed class:
/// `max(1, round(0.1 n_c))` rows of class c go to the meta set, chosen by a
/// seeded shuffle. A class with a single row cannot give one away and still be
/// trained on, so it is an error. Both outputs are ascending.
pub fn carve_meta_from_coreset(
    coreset: &[u32],
    labels: &[u32],
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<u32>, Vec<u32>)> {
    let mut by_class: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &row in coreset {
        by_class.entry(labels[row as usize]).or_default().push(row);
    }

    let mut train = Vec::with_capacity(coreset.len());
    let mut meta = Vec::new();
    for (class, mut rows) in by_class {
        if rows.len() < 2 {
            return Err(ReweightError::ClassTooSmallToCarve {
                class,
                rows: rows.len(),
            });
        }
        let carved = ((CARVE_FRACTION * rows.len() as f64).round() as usize).max(1);
        rows.shuffle(rng);
        meta.extend_from_slice(&rows[..carved]);
        train.extend_from_slice(&rows[carved..]);
    }
    train.sort_unstable();
    meta.sort_unstable();
    Ok((train, meta))
}

/// Returns the training batches of one epoch: a seeded shuffle of `rows` cut
/// into chunks of `batch_size`, the last one possibly shorter.
pub fn epoch_batches(rows: &[u32], batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u32>> {
    let mut order = rows.to_vec();
    order.shuffle(rng);
    order.chunks(batch_size).map(<[u32]>::to_vec).collect()
}

/// Draws `min(batch_size, |meta|)` distinct meta rows.
pub fn meta_batch(meta: &[u32], batch_size: usize, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let amount = batch_size.min(meta.len());
    rand::seq::index::sample(rng, meta.len(), amount)
        .into_iter()
        .map(|i| meta[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn carving_is_class_balanced_and_disjoint() {
        // Class 0: 20 rows -> 2 meta rows; class 1: 4 rows -> round(0.4) = 0 -> 1.
        let labels: Vec<u32> = (0..24).map(|i| u32::from(i >= 20)).collect();
        let coreset: Vec<u32> = (0..24).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (train, meta) = carve_meta_from_coreset(&coreset, &labels, &mut rng).unwrap();

        assert_eq!(meta.len(), 3);
        assert_eq!(meta.iter().filter(|&&r| labels[r as usize] == 1).count(), 1);
        assert_eq!(train.len(), 21);
        assert!(train.iter().all(|r| !meta.contains(r)));
        assert!(train.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn carving_rejects_single_row_class() {
        let labels = [0u32, 0, 1];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let error = carve_meta_from_coreset(&[0, 1, 2], &labels, &mut rng)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "coreset class 1 has 1 row, too few to carve a meta part out of it and still train on it"
        );
    }

    #[test]
    fn batches_cover_every_row_once() {
        let rows: Vec<u32> = (10..35).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let batches = epoch_batches(&rows, 10, &mut rng);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        let mut seen: Vec<u32> = batches.concat();
        seen.sort_unstable();
        assert_eq!(seen, rows);

        let meta = meta_batch(&rows[..4], 10, &mut rng);
        assert_eq!(meta.len(), 4);
    }
}
