//! Metrics on small cases worked by hand.

use cwerm_train::metrics::{
    ConfusionMatrix, MetricsError, QUANTILE_LEVELS, accuracy, auroc, summarize_weights,
    weights_by_noise,
};

fn assert_close(found: f64, expected: f64) {
    assert!(
        (found - expected).abs() < 1e-12,
        "found {found}, expected {expected}"
    );
}

#[test]
fn accuracy_counts_matches() {
    // 3 of 4 predictions match.
    assert_eq!(accuracy(&[0, 1, 2, 1], &[0, 1, 1, 1]).unwrap(), 0.75);
}

#[test]
fn confusion_rows_are_true_classes() {
    // truth     0 0 1 1 2 2
    // predicted 0 1 1 1 0 2
    // -> (0,0) 1, (0,1) 1, (1,1) 2, (2,0) 1, (2,2) 1.
    let matrix = ConfusionMatrix::new(&[0, 1, 1, 1, 0, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
    assert_eq!(matrix.counts(), &[1, 1, 0, 0, 2, 0, 1, 0, 1]);
    assert_eq!(matrix.count(2, 0), 1);
    assert_eq!(matrix.total(), 6);
    assert_close(matrix.accuracy(), 4.0 / 6.0);
    assert_eq!(
        matrix.per_class_accuracy(),
        vec![Some(0.5), Some(1.0), Some(0.5)]
    );
}

#[test]
fn confusion_marks_absent_class() {
    // Class 2 never occurs as a true label.
    let matrix = ConfusionMatrix::new(&[0, 2], &[0, 1], 3).unwrap();
    assert_eq!(
        matrix.per_class_accuracy(),
        vec![Some(1.0), Some(0.0), None]
    );
}

#[test]
fn auroc_of_separated_inverted_and_tied_scores() {
    let positive = [false, false, true, true];
    assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &positive).unwrap(), Some(1.0));
    assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &positive).unwrap(), Some(0.0));
    assert_eq!(auroc(&[0.5; 4], &positive).unwrap(), Some(0.5));
}

#[test]
fn auroc_worked_examples() {
    // Scores 0.1, 0.4 (negatives) and 0.35, 0.8 (positives). Pairs
    // (positive, negative): 0.35 > 0.1, 0.35 < 0.4, 0.8 > 0.1, 0.8 > 0.4,
    // so 3 of 4 pairs are ordered: 0.75.
    let value = auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
    assert_eq!(value, Some(0.75));

    // Positives 0.5 and 0.9, negatives 0.5 and 0.2. Pairs: 0.5 vs 0.5 tie
    // (1/2), 0.5 > 0.2, 0.9 > 0.5, 0.9 > 0.2: 3.5 of 4 = 0.875.
    let value = auroc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]).unwrap();
    assert_eq!(value, Some(0.875));
}

#[test]
fn auroc_needs_both_classes() {
    assert_eq!(auroc(&[0.1, 0.2], &[true, true]).unwrap(), None);
    assert_eq!(auroc(&[0.1, 0.2], &[false, false]).unwrap(), None);
    assert_eq!(auroc(&[], &[]).unwrap(), None);
}

#[test]
fn auroc_rejects_bad_scores() {
    let error = auroc(&[0.1, f32::NAN], &[true, false]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "score at index 1 is NaN, expected a finite number"
    );

    let error = auroc(&[0.1], &[true, false]).unwrap_err();
    assert_eq!(error.to_string(), "positive flags has 2 values, expected 1");
}

#[test]
fn weight_summary_of_evenly_spaced_values() {
    // 0, 1, 2, 3, 4: mean 2, population variance (4 + 1 + 0 + 1 + 4) / 5 = 2.
    // Quantile at level q sits at position 4q: 0.2, 1, 2, 3, 3.8.
    let summary = summarize_weights(&[3.0, 0.0, 4.0, 1.0, 2.0]).unwrap();
    assert_eq!(summary.count, 5);
    assert_close(summary.mean, 2.0);
    assert_close(summary.std, 2.0f64.sqrt());
    assert_eq!(summary.min, 0.0);
    assert_eq!(summary.max, 4.0);
    assert_eq!(QUANTILE_LEVELS, [0.05, 0.25, 0.5, 0.75, 0.95]);
    for (found, expected) in summary.quantiles.iter().zip([0.2, 1.0, 2.0, 3.0, 3.8]) {
        assert_close(*found, expected);
    }
}

#[test]
fn weights_by_noise_separates_flipped_rows() {
    // Rows 2 and 3 are flipped and got the lower weights: AUROC 1.
    // Clean mean (0.75 + 0.25) / 2 = 0.5 as f32 values; flipped mean 0.125.
    let report =
        weights_by_noise(&[0.75, 0.25, 0.125, 0.125], &[0, 1, 2, 3], &[0, 1, 0, 0]).unwrap();
    assert_eq!(report.auroc, Some(1.0));
    assert_eq!(report.clean.as_ref().unwrap().mean, 0.5);
    assert_eq!(report.flipped.as_ref().unwrap().mean, 0.125);
    assert_eq!(report.all.count, 4);

    // A higher weight on the flipped row inverts the AUROC.
    let report = weights_by_noise(&[0.2, 0.9], &[0, 1], &[0, 0]).unwrap();
    assert_eq!(report.auroc, Some(0.0));

    // No flipped rows: no flipped summary, no AUROC.
    let report = weights_by_noise(&[0.2, 0.9], &[0, 1], &[0, 1]).unwrap();
    assert!(report.flipped.is_none());
    assert_eq!(report.auroc, None);
}

#[test]
fn metric_errors_name_the_bad_value() {
    let error = accuracy(&[0, 1], &[0]).unwrap_err();
    assert_eq!(error.to_string(), "predictions has 2 values, expected 1");

    let error = accuracy(&[], &[]).unwrap_err();
    assert_eq!(error, MetricsError::Empty { name: "labels" });
    assert_eq!(
        error.to_string(),
        "labels is empty: expected at least one value"
    );

    let error = ConfusionMatrix::new(&[0, 3], &[0, 1], 3).unwrap_err();
    assert_eq!(
        error.to_string(),
        "prediction 3 at index 1 is out of range for 3 classes"
    );

    let error = ConfusionMatrix::new(&[0], &[0], 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid number of classes 0: expected at least one class"
    );

    let error = ConfusionMatrix::new(&[0], &[0], usize::MAX / 2).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid number of classes {}: a [K, K] confusion matrix of that size does not fit in memory",
            usize::MAX / 2
        )
    );

    let error = summarize_weights(&[0.5, f32::NEG_INFINITY]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "weight at index 1 is -inf, expected a finite number"
    );

    let error = weights_by_noise(&[0.5], &[0, 1], &[0]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "observed labels has 2 values, expected 1"
    );
}
