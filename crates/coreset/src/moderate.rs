//! Moderate selection (Xia et al., ICLR 2023): class prototypes, distances and
//! the middle window of each class's distance ranking.
//!
//! A class prototype is the coordinate-wise median of the class's feature rows
//! `[n_c, D] -> [D]`. A row's score is its Euclidean distance to the prototype
//! of its observed class. The class keeps the `k_c` rows at sorted positions
//! `s .. s + k_c`, `s = floor((n_c - k_c) / 2)`, where rows are sorted by
//! (score, row).

use std::cmp::Ordering;

use rayon::prelude::*;

/// Columns gathered together when computing a median. Sixteen f32 values fill
/// one 64-byte cache line, so each feature row is read one line at a time.
const COLUMN_BLOCK: usize = 16;

/// Returns `k_c = max(1, round(ratio * n_c))`, rounding halves away from zero.
///
/// `ratio` is a decimal from a config file, and its f64 product with `n_c` can
/// land a few ulps below a half-integer (`0.7 * 45` gives 31.499999999999996).
/// A product within a relative 1e-12 of a half-integer counts as that
/// half-integer, so the quota matches the decimal arithmetic the user meant.
/// The result never exceeds `n_c` for `ratio` in (0, 1].
pub fn class_quota(ratio: f64, class_size: usize) -> usize {
    let product = ratio * class_size as f64;
    let whole = product.floor();
    let fraction = product - whole;

    let rounded = if (fraction - 0.5).abs() <= 1e-12 * product.max(1.0) {
        whole + 1.0
    } else {
        product.round()
    };

    (rounded as usize).clamp(1, class_size.max(1))
}

/// Returns the median of `values`, reordering them; an even count gives the
/// mean of the two middle values. `values` must be non-empty and free of NaN.
pub fn median_in_place(values: &mut [f32]) -> f32 {
    let n = values.len();
    let middle = n / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(middle, f32::total_cmp);
    let upper = *upper;

    if !n.is_multiple_of(2) {
        return upper;
    }

    let lower = lower.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    ((f64::from(lower) + f64::from(upper)) / 2.0) as f32
}

/// Computes the coordinate-wise median `[D]` of the feature rows `rows` of a
/// row-major `[N, D]` matrix, in parallel over blocks of columns.
///
/// Each task copies `rows.len() x 16` values, never the whole class.
pub(crate) fn class_prototype(features: &[f32], dim: usize, rows: &[usize]) -> Vec<f32> {
    let mut prototype = vec![0.0f32; dim];
    let n = rows.len();

    prototype
        .par_chunks_mut(COLUMN_BLOCK)
        .enumerate()
        .for_each(|(block, medians)| {
            let start = block * COLUMN_BLOCK;
            let width = medians.len();

            // Column-major copy of this block: column j is columns[j * n .. (j + 1) * n].
            let mut columns = vec![0.0f32; width * n];
            for (i, &row) in rows.iter().enumerate() {
                let offset = row * dim + start;
                for (j, &value) in features[offset..offset + width].iter().enumerate() {
                    columns[j * n + i] = value;
                }
            }

            for (j, median) in medians.iter_mut().enumerate() {
                *median = median_in_place(&mut columns[j * n..(j + 1) * n]);
            }
        });

    prototype
}

/// Returns the Euclidean distance between `row` and `prototype`, accumulated
/// in f64 and rounded to f32.
///
/// Eight independent partial sums let the compiler vectorise the loop, while
/// one running f64 sum is bound by add latency.
pub(crate) fn distance(row: &[f32], prototype: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let row_chunks = row.chunks_exact(LANES);
    let prototype_chunks = prototype.chunks_exact(LANES);
    let (row_rest, prototype_rest) = (row_chunks.remainder(), prototype_chunks.remainder());

    for (row_chunk, prototype_chunk) in row_chunks.zip(prototype_chunks) {
        for lane in 0..LANES {
            let d = f64::from(row_chunk[lane]) - f64::from(prototype_chunk[lane]);
            lanes[lane] += d * d;
        }
    }

    let mut squared: f64 = lanes.iter().sum();
    for (&x, &m) in row_rest.iter().zip(prototype_rest) {
        let d = f64::from(x) - f64::from(m);
        squared += d * d;
    }
    squared.sqrt() as f32
}

/// Returns the `quota` rows of one class whose (score, row) rank is centred on
/// the class's median rank, in ascending row order.
pub(crate) fn middle_window(rows: &[usize], scores: &[f32], quota: usize) -> Vec<usize> {
    let mut ranked = rows.to_vec();
    ranked.sort_unstable_by(|&a, &b| match scores[a].total_cmp(&scores[b]) {
        Ordering::Equal => a.cmp(&b),
        other => other,
    });

    let start = (ranked.len() - quota) / 2;
    let mut kept = ranked[start..start + quota].to_vec();
    kept.sort_unstable();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rounds_half_away_from_zero() {
        // 0.5 * 3 = 1.5 -> 2; 0.5 * 1 = 0.5 -> 1; 0.25 * 10 = 2.5 -> 3.
        assert_eq!(class_quota(0.5, 3), 2);
        assert_eq!(class_quota(0.5, 1), 1);
        assert_eq!(class_quota(0.25, 10), 3);
    }

    #[test]
    fn quota_treats_decimal_halves_as_halves() {
        // 0.7 * 45 = 31.5 in decimal, 31.499999999999996 in f64.
        assert_eq!(class_quota(0.7, 45), 32);
        // 0.015 * 100 = 1.5 -> 2.
        assert_eq!(class_quota(0.015, 100), 2);
    }

    #[test]
    fn quota_stays_within_one_and_class_size() {
        assert_eq!(class_quota(0.001, 10), 1);
        assert_eq!(class_quota(1.0, 7), 7);
        assert_eq!(class_quota(0.01, 6000), 60);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        // Middle values 2 and 5 -> 3.5.
        assert_eq!(median_in_place(&mut [5.0, 1.0, 9.0, 2.0]), 3.5);
        assert_eq!(median_in_place(&mut [-4.0]), -4.0);
    }

    #[test]
    fn prototype_spans_several_column_blocks() {
        // 3 rows, 40 columns: row r has value (r + 1) * (c + 1) in column c, so
        // the median row is row 1, i.e. 2 * (c + 1).
        let dim = 40;
        let features: Vec<f32> = (0..3)
            .flat_map(|r| (0..dim).map(move |c| ((r + 1) * (c + 1)) as f32))
            .collect();
        let prototype = class_prototype(&features, dim, &[2, 0, 1]);
        let expected: Vec<f32> = (0..dim).map(|c| (2 * (c + 1)) as f32).collect();
        assert_eq!(prototype, expected);
    }
}
