//! Row selection: the stratified subset, the meta hold-out and the long-tail
//! imbalance.
//!
//! Each step works on row indices into a reader's split and returns them in
//! ascending order, so the kept rows stay in reader order. Per class the rows
//! are drawn uniformly without replacement by [`Draws::choose_sorted`], one
//! class after another in class order, from the step's own stream.

use crate::error::DataError;
use crate::rng::Draws;

/// Groups `rows` (indices into `labels`) by class; each group keeps the order of `rows`.
pub(crate) fn rows_by_class(labels: &[u32], rows: &[usize], num_classes: usize) -> Vec<Vec<usize>> {
    let mut groups = vec![Vec::new(); num_classes];
    for &row in rows {
        groups[labels[row] as usize].push(row);
    }
    groups
}

/// The inputs that name a class in an error.
pub(crate) struct ClassContext<'a> {
    pub class_names: &'a [String],
    /// The rows the count applies to, e.g. "train" or "test".
    pub split: &'static str,
    /// The `[prepare]` key of the count.
    pub key: &'static str,
    /// Rows of each class that must remain after the draw: 1 for the meta
    /// hold-out, so that every class keeps a training row, else 0.
    pub keep: usize,
}

/// Draws exactly `per_class` rows of every class among `rows`.
pub(crate) fn choose_per_class(
    labels: &[u32],
    rows: &[usize],
    per_class: usize,
    context: &ClassContext,
    draws: &mut Draws,
) -> Result<Vec<usize>, DataError> {
    let groups = rows_by_class(labels, rows, context.class_names.len());
    let mut chosen = Vec::with_capacity(per_class * groups.len());
    for (class, group) in groups.iter().enumerate() {
        if group.len() < per_class + context.keep {
            return Err(DataError::NotEnoughRows {
                key: context.key,
                requested: (per_class + context.keep) as u64,
                split: context.split,
                class: class as u32,
                class_name: context.class_names[class].clone(),
                available: group.len() as u64,
            });
        }
        chosen.extend(draws.choose_sorted(group, per_class));
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// Training rows that class c keeps under long-tail imbalance.
///
/// With `n_max` the largest count and K classes, class c keeps
/// `min(n_c, max(1, round(n_max * factor^(-c / (K - 1)))))` rows, where
/// `round` goes half away from zero. The floor of 1 keeps every non-empty
/// class present however steep the factor. With one class, or with
/// `factor = 1`, every row is kept.
///
/// NOTE: `powf` comes from the platform's math library, so a target within
/// one ulp of a .5 boundary could round differently on another platform.
pub fn imbalance_counts(class_counts: &[usize], factor: f64) -> Vec<usize> {
    let num_classes = class_counts.len();
    let n_max = class_counts.iter().copied().max().unwrap_or(0);
    class_counts
        .iter()
        .enumerate()
        .map(|(class, &count)| {
            if num_classes < 2 {
                return count;
            }
            let exponent = -(class as f64) / (num_classes - 1) as f64;
            let target = (n_max as f64 * factor.powf(exponent)).round().max(1.0) as usize;
            target.min(count)
        })
        .collect()
}

/// Keeps, per class, the number of `rows` that [`imbalance_counts`] gives.
pub(crate) fn apply_imbalance(
    labels: &[u32],
    rows: &[usize],
    num_classes: usize,
    factor: f64,
    draws: &mut Draws,
) -> Vec<usize> {
    let groups = rows_by_class(labels, rows, num_classes);
    let counts: Vec<usize> = groups.iter().map(Vec::len).collect();
    let keep = imbalance_counts(&counts, factor);

    let mut kept = Vec::with_capacity(keep.iter().sum());
    for (group, &count) in groups.iter().zip(&keep) {
        kept.extend(draws.choose_sorted(group, count));
    }
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_counts_follow_the_long_tail_formula() {
        // n_max = 1000, K = 3, factor 100: 1000, 1000 * 100^-0.5 = 100, 1000 * 100^-1 = 10.
        assert_eq!(
            imbalance_counts(&[1000, 1000, 1000], 100.0),
            vec![1000, 100, 10]
        );
    }

    #[test]
    fn imbalance_counts_round_half_away_and_floor_at_one() {
        // 5 * 10^-1 = 0.5 rounds to 1; 5 * 1000^-1 = 0.005 is raised to 1.
        assert_eq!(imbalance_counts(&[5, 5], 10.0), vec![5, 1]);
        assert_eq!(imbalance_counts(&[5, 5], 1000.0), vec![5, 1]);
    }

    #[test]
    fn imbalance_counts_never_exceed_a_class() {
        // Class 1 has 3 rows but the formula allows 1000 * 2^-0.5 = 707.
        assert_eq!(imbalance_counts(&[1000, 3, 1000], 2.0), vec![1000, 3, 500]);
    }

    #[test]
    fn imbalance_factor_one_keeps_everything() {
        assert_eq!(imbalance_counts(&[7, 3, 9], 1.0), vec![7, 3, 9]);
        assert_eq!(imbalance_counts(&[7], 50.0), vec![7]);
    }
}
