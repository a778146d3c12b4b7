//! Stratified random selection: `k_c` rows drawn without replacement from each
//! class's training rows, classes in order 0..K, from one ChaCha8 stream
//! seeded with the pipeline seed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Draws `quotas[c]` rows from `class_rows[c]` for every class; returns each
/// class's draw in ascending row order.
pub(crate) fn stratified_sample(
    class_rows: &[Vec<usize>],
    quotas: &[usize],
    seed: u64,
) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    class_rows
        .iter()
        .zip(quotas)
        .map(|(rows, &quota)| {
            let mut kept: Vec<usize> = rand::seq::index::sample(&mut rng, rows.len(), quota)
                .into_iter()
                .map(|position| rows[position])
                .collect();
            kept.sort_unstable();
            kept
        })
        .collect()
}
