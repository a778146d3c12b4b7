//! Statistics of the learned weights: AUROC against flipped labels, Spearman
//! rank correlation and least-squares slope of weight against loss, and the
//! thresholds of the inverted-weighting and collapse guards.

/// Weight standard deviation below which the weighting counts as collapsed:
/// every row then gets nearly the same weight, so reweighting does nothing
/// beyond rescaling the learning rate.
pub const COLLAPSE_SPREAD: f64 = 0.01;

/// Mean weight below which the weighting counts as collapsed towards 0.
pub const COLLAPSE_MEAN: f64 = 0.05;

/// Area under the ROC curve of `scores` for the positives in `positive`; ties
/// count one half. Returns `None` when either class is empty.
pub fn auroc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let positives = positive.iter().filter(|p| **p).count();
    let negatives = positive.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }

    // Mann-Whitney U from average ranks, so ties are handled exactly.
    let ranks = average_ranks(scores);
    let positive_rank_sum: f64 = ranks
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    let u = positive_rank_sum - (positives * (positives + 1)) as f64 / 2.0;
    Some(u / (positives * negatives) as f64)
}

/// Spearman rank correlation of `a` and `b` (Pearson correlation of average
/// ranks); 0 when either side is constant or has fewer than 2 values.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Least-squares slope of `y` against `x`; 0 when `x` is constant.
pub fn slope(x: &[f64], y: &[f64]) -> f64 {
    let (mean_x, mean_y) = (mean(x), mean(y));
    let covariance: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mean_x) * (b - mean_y))
        .sum();
    let variance: f64 = x.iter().map(|a| (a - mean_x).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance
    }
}

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Population standard deviation.
pub fn std_dev(values: &[f64]) -> f64 {
    let m = mean(values);
    mean(&values.iter().map(|v| (v - m).powi(2)).collect::<Vec<_>>()).sqrt()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    if a.len() < 2 {
        return 0.0;
    }
    let (mean_a, mean_b) = (mean(a), mean(b));
    let covariance: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - mean_a) * (y - mean_b))
        .sum();
    let var_a: f64 = a.iter().map(|x| (x - mean_a).powi(2)).sum();
    let var_b: f64 = b.iter().map(|y| (y - mean_b).powi(2)).sum();
    if var_a == 0.0 || var_b == 0.0 {
        return 0.0;
    }
    covariance / (var_a * var_b).sqrt()
}

/// 1-based ranks, ties sharing the mean of their positions.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_counts_pairs_and_ties() {
        assert_eq!(
            auroc(&[0.9, 0.8, 0.1, 0.2], &[true, true, false, false]),
            Some(1.0)
        );
        assert_eq!(
            auroc(&[0.1, 0.2, 0.9, 0.8], &[true, true, false, false]),
            Some(0.0)
        );
        // One tied pair out of four counts one half: (3 + 0.5) / 4.
        assert_eq!(
            auroc(&[0.5, 0.9, 0.5, 0.1], &[true, true, false, false]),
            Some(0.875)
        );
        assert_eq!(auroc(&[0.5], &[true]), None);
    }

    #[test]
    fn spearman_and_slope_follow_direction() {
        let loss = [0.1, 0.5, 1.0, 3.0];
        assert!((spearman(&loss, &[0.9, 0.8, 0.5, 0.1]) + 1.0).abs() < 1e-12);
        assert!((spearman(&loss, &[0.1, 0.2, 0.3, 0.35]) - 1.0).abs() < 1e-12);
        assert_eq!(spearman(&loss, &[0.5; 4]), 0.0);
        assert!((slope(&[0.0, 1.0, 2.0], &[1.0, 0.5, 0.0]) + 0.5).abs() < 1e-12);
        assert!((std_dev(&[1.0, 3.0]) - 1.0).abs() < 1e-12);
    }
}
