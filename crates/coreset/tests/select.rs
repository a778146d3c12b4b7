//! Coreset selection on hand-built features with known medians, exact coreset
//! sizes, seeded random selection and the error messages of bad input.

use cwerm_config::{SelectConfig, SelectMethod};
use cwerm_coreset::{ClassSize, SelectError, SelectInput, Selection, class_quota, select};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config(method: SelectMethod, ratio: f64) -> SelectConfig {
    SelectConfig { method, ratio }
}

fn run(
    features: &[f32],
    dim: usize,
    labels: &[u32],
    split: &[u8],
    num_classes: usize,
    config: &SelectConfig,
) -> Result<Selection, SelectError> {
    let input = SelectInput {
        features,
        dim,
        labels,
        split,
        num_classes,
        clean_labels: None,
    };
    select(&input, config, 0)
}

#[test]
fn moderate_odd_class_breaks_ties_by_row() {
    // One feature; values 0, 1, 2, 3, 10. Median 2, distances 2, 1, 0, 1, 8.
    // Sorted by (distance, row): rows 2, 1, 3, 0, 4. Ratio 0.6 keeps k = 3 at
    // positions 1..4, i.e. rows 1, 3, 0.
    let features = [0.0, 1.0, 2.0, 3.0, 10.0];
    let labels = [0; 5];
    let split = [0; 5];
    let selection = run(
        &features,
        1,
        &labels,
        &split,
        1,
        &config(SelectMethod::Moderate, 0.6),
    )
    .unwrap();

    assert_eq!(selection.indices, vec![0, 1, 3]);
    assert_eq!(selection.scores, vec![2.0, 1.0, 0.0, 1.0, 8.0]);
    assert_eq!(selection.class_sizes, vec![ClassSize { train: 5, kept: 3 }]);
}

#[test]
fn moderate_even_class_uses_mean_of_middle_values() {
    // Class 0 has 4 rows in 2-D: (0, 0), (1, 10), (2, 4), (3, 6).
    // Column medians: (1 + 2) / 2 = 1.5 and (4 + 6) / 2 = 5, prototype (1.5, 5).
    // Squared distances: 2.25 + 25 = 27.25, 0.25 + 25 = 25.25, 0.25 + 1 = 1.25,
    // 2.25 + 1 = 3.25. Sorted: rows 2, 3, 1, 0. Ratio 0.5 keeps k = 2 at
    // positions 1..3, i.e. rows 3 and 1.
    let features = [0.0, 0.0, 1.0, 10.0, 2.0, 4.0, 3.0, 6.0];
    let labels = [0; 4];
    let split = [0; 4];
    let selection = run(
        &features,
        2,
        &labels,
        &split,
        1,
        &config(SelectMethod::Moderate, 0.5),
    )
    .unwrap();

    assert_eq!(selection.indices, vec![1, 3]);
    let expected = [
        27.25f64.sqrt(),
        25.25f64.sqrt(),
        1.25f64.sqrt(),
        3.25f64.sqrt(),
    ];
    for (score, want) in selection.scores.iter().zip(expected) {
        assert_eq!(*score, want as f32);
    }
}

#[test]
fn moderate_even_class_tie_picks_lower_row_first() {
    // Values 0, 2, 6, 10: median (2 + 6) / 2 = 4, distances 4, 2, 2, 6.
    // Sorted: rows 1, 2 (tie at 2, lower row first), 0, 3. Ratio 0.5 keeps
    // positions 1..3: rows 2 and 0.
    let features = [0.0, 2.0, 6.0, 10.0];
    let selection = run(
        &features,
        1,
        &[0; 4],
        &[0; 4],
        1,
        &config(SelectMethod::Moderate, 0.5),
    )
    .unwrap();
    assert_eq!(selection.indices, vec![0, 2]);
}

#[test]
fn moderate_skips_meta_and_test_rows() {
    // Rows 0..6: class 0 has training rows 0, 2, 4 with values 0, 5, 100. Row 1
    // (meta) and row 3 (test) sit where a median would be. Class 1 has a
    // single training row 5. Class 0: median 5, distances 5, 0, 95; sorted rows
    // 2, 0, 4. Ratio 0.4 gives k = round(1.2) = 1 and s = floor(2 / 2) = 1, so
    // the kept row is the middle one of the ranking, row 0.
    let features = [0.0, 5.0, 5.0, 5.0, 100.0, 7.0];
    let labels = [0, 0, 0, 0, 0, 1];
    let split = [0, 1, 0, 2, 0, 0];
    let selection = run(
        &features,
        1,
        &labels,
        &split,
        2,
        &config(SelectMethod::Moderate, 0.4),
    )
    .unwrap();

    assert_eq!(selection.indices, vec![0, 5]);
    assert_eq!(selection.scores, vec![5.0, -1.0, 0.0, -1.0, 95.0, 0.0]);
    assert_eq!(
        selection.class_sizes,
        vec![
            ClassSize { train: 3, kept: 1 },
            ClassSize { train: 1, kept: 1 }
        ]
    );
}

#[test]
fn moderate_keeps_single_example_class() {
    let features = [3.0, -1.0];
    let selection = run(
        &features,
        2,
        &[0],
        &[0],
        1,
        &config(SelectMethod::Moderate, 0.01),
    )
    .unwrap();
    assert_eq!(selection.indices, vec![0]);
    assert_eq!(selection.scores, vec![0.0]);
}

#[test]
fn ratio_one_keeps_every_training_row() {
    let features = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    let labels = [0, 1, 0, 1, 0, 1];
    let split = [0, 0, 1, 0, 2, 0];
    for method in [
        SelectMethod::Moderate,
        SelectMethod::Random,
        SelectMethod::All,
    ] {
        let selection = run(&features, 1, &labels, &split, 2, &config(method, 1.0)).unwrap();
        assert_eq!(selection.indices, vec![0, 1, 3, 5], "{method:?}");
    }
}

/// Six classes of sizes 1, 2, 3, 199, 200 and 6000 with seeded features in 4-D.
fn uneven_classes() -> (Vec<f32>, Vec<u32>, Vec<u8>) {
    let sizes = [1usize, 2, 3, 199, 200, 6000];
    let dim = 4;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut labels = Vec::new();
    for (class, &size) in sizes.iter().enumerate() {
        labels.extend(std::iter::repeat_n(class as u32, size));
    }
    let features = (0..labels.len() * dim)
        .map(|_| rng.random::<f32>())
        .collect();
    let split = vec![0; labels.len()];
    (features, labels, split)
}

#[test]
fn coreset_size_is_sum_of_class_quotas() {
    // k_c = max(1, round(ratio * n_c)) for n_c = 1, 2, 3, 199, 200, 6000:
    // 0.005: 1, 1, 1, 1 (0.995), 1, 30                 -> 35
    // 0.01:  1, 1, 1, 2 (1.99), 2, 60                  -> 67
    // 0.015: 1, 1, 1, 3 (2.985), 3, 90                 -> 99
    // 0.5:   1, 1, 2 (1.5), 100 (99.5), 100, 3000      -> 3204
    let cases = [
        (0.005, [1, 1, 1, 1, 1, 30], 35),
        (0.01, [1, 1, 1, 2, 2, 60], 67),
        (0.015, [1, 1, 1, 3, 3, 90], 99),
        (0.5, [1, 1, 2, 100, 100, 3000], 3204),
    ];
    let (features, labels, split) = uneven_classes();

    for (ratio, quotas, total) in cases {
        for method in [SelectMethod::Moderate, SelectMethod::Random] {
            let selection = run(&features, 4, &labels, &split, 6, &config(method, ratio)).unwrap();
            let kept: Vec<usize> = selection.class_sizes.iter().map(|size| size.kept).collect();
            assert_eq!(kept, quotas, "ratio {ratio}, {method:?}");
            assert_eq!(selection.indices.len(), total, "ratio {ratio}, {method:?}");

            let sizes = [1, 2, 3, 199, 200, 6000];
            let quota_sum: usize = sizes.iter().map(|&n| class_quota(ratio, n)).sum();
            assert_eq!(quota_sum, total, "ratio {ratio}");
        }
    }
}

#[test]
fn coreset_indices_ascend_and_match_their_class() {
    let (features, labels, split) = uneven_classes();
    let selection = run(
        &features,
        4,
        &labels,
        &split,
        6,
        &config(SelectMethod::Moderate, 0.1),
    )
    .unwrap();

    assert!(selection.indices.windows(2).all(|pair| pair[0] < pair[1]));
    for class in 0..6u32 {
        let count = selection
            .indices
            .iter()
            .filter(|&&row| labels[row as usize] == class)
            .count();
        assert_eq!(
            count, selection.class_sizes[class as usize].kept,
            "class {class}"
        );
    }
}

#[test]
fn random_is_seeded_and_stratified() {
    let (features, labels, split) = uneven_classes();
    let input = SelectInput {
        features: &features,
        dim: 4,
        labels: &labels,
        split: &split,
        num_classes: 6,
        clean_labels: None,
    };
    let random = config(SelectMethod::Random, 0.05);

    let first = select(&input, &random, 11).unwrap();
    let again = select(&input, &random, 11).unwrap();
    let other = select(&input, &random, 12).unwrap();
    assert_eq!(first, again);
    assert_ne!(first.indices, other.indices);

    let kept: Vec<usize> = first.class_sizes.iter().map(|size| size.kept).collect();
    // 0.05 * (1, 2, 3, 199, 200, 6000) = 0.05, 0.1, 0.15, 9.95, 10, 300.
    assert_eq!(kept, vec![1, 1, 1, 10, 10, 300]);
    for class in 0..6u32 {
        let count = first
            .indices
            .iter()
            .filter(|&&row| labels[row as usize] == class)
            .count();
        assert_eq!(count, kept[class as usize], "class {class}");
    }

    let moderate = select(&input, &config(SelectMethod::Moderate, 0.05), 11).unwrap();
    assert_eq!(first.scores, moderate.scores);
    assert_ne!(first.indices, moderate.indices);
}

#[test]
fn all_keeps_training_rows_and_scores_them() {
    let features = [0.0, 1.0, 2.0, 3.0, 4.0];
    let labels = [0, 0, 0, 0, 0];
    let split = [0, 2, 0, 1, 0];
    let all = run(
        &features,
        1,
        &labels,
        &split,
        1,
        &config(SelectMethod::All, 0.01),
    )
    .unwrap();
    let moderate = run(
        &features,
        1,
        &labels,
        &split,
        1,
        &config(SelectMethod::Moderate, 0.01),
    )
    .unwrap();

    assert_eq!(all.indices, vec![0, 2, 4]);
    assert_eq!(all.class_sizes, vec![ClassSize { train: 3, kept: 3 }]);
    // Median of 0, 2, 4 is 2; sorted rows 2, 0, 4; moderate keeps position 1.
    assert_eq!(all.scores, vec![2.0, -1.0, 0.0, -1.0, 2.0]);
    assert_eq!(all.scores, moderate.scores);
    assert_eq!(moderate.indices, vec![0]);
}

#[test]
fn noise_fractions_count_flipped_labels() {
    // Training rows 0, 1, 2, 3, 5 (row 4 is test). Observed class 0: rows 0, 1, 2
    // with values 0, 1, 2: median 1, distances 1, 0, 1, sorted rows 1, 0, 2;
    // ratio 0.34 gives k = round(1.02) = 1 at position 1, row 0.
    // Class 1: rows 3, 5, values 3 and 50; median 26.5, both at 23.5; ties by
    // row keep row 3 (s = floor(1 / 2) = 0).
    // Flipped training rows (observed != clean): 0 and 5; row 4 is flipped but
    // a test row. Coreset {0, 3}: 1 of 2. Training split: 2 of 5.
    let features = [0.0, 1.0, 2.0, 3.0, 9.0, 50.0];
    let labels = [0, 0, 0, 1, 1, 1];
    let clean = [1, 0, 0, 1, 0, 0];
    let split = [0, 0, 0, 0, 2, 0];
    let input = SelectInput {
        features: &features,
        dim: 1,
        labels: &labels,
        split: &split,
        num_classes: 2,
        clean_labels: Some(&clean),
    };
    let selection = select(&input, &config(SelectMethod::Moderate, 0.34), 0).unwrap();

    assert_eq!(selection.indices, vec![0, 3]);
    let noise = selection.noise.unwrap();
    assert_eq!(noise.coreset, 0.5);
    assert_eq!(noise.train, 0.4);
}

fn error_of(result: Result<Selection, SelectError>) -> (SelectError, String) {
    let error = result.unwrap_err();
    let message = error.to_string();
    (error, message)
}

#[test]
fn ratio_outside_unit_interval_is_rejected() {
    for ratio in [0.0, -0.1, 1.5, f64::NAN] {
        let (error, message) = error_of(run(
            &[1.0],
            1,
            &[0],
            &[0],
            1,
            &config(SelectMethod::Moderate, ratio),
        ));
        assert!(matches!(error, SelectError::InvalidRatio { .. }), "{ratio}");
        assert_eq!(
            message,
            format!("invalid select ratio {ratio}: expected a value in (0, 1]")
        );
    }
}

#[test]
fn class_without_training_rows_is_rejected() {
    // Class 1 appears only in the meta split; class 2 never appears.
    let (error, message) = error_of(run(
        &[1.0, 2.0, 3.0],
        1,
        &[0, 1, 0],
        &[0, 1, 0],
        3,
        &config(SelectMethod::Moderate, 0.5),
    ));
    assert_eq!(
        error,
        SelectError::EmptyClass {
            class: 1,
            num_classes: 3
        }
    );
    assert_eq!(
        message,
        "class 1 has no training rows: every class 0..3 needs at least one training row to select from"
    );
}

#[test]
fn more_classes_than_training_rows_is_rejected() {
    // Two training rows with labels 0 and 2: class 1 is the first empty one.
    let (_, message) = error_of(run(
        &[1.0, 2.0],
        1,
        &[0, 2],
        &[0, 0],
        1_000_000,
        &config(SelectMethod::Moderate, 0.5),
    ));
    assert_eq!(
        message,
        "class 1 has no training rows: every class 0..1000000 needs at least one training row to select from"
    );

    let (_, message) = error_of(run(
        &[1.0],
        1,
        &[0],
        &[0],
        2,
        &config(SelectMethod::Moderate, 0.5),
    ));
    assert_eq!(
        message,
        "class 1 has no training rows: every class 0..2 needs at least one training row to select from"
    );
}

#[test]
fn non_finite_feature_names_first_row() {
    // Rows 2 and 3 are bad; row 2 column 1 is reported first.
    let features = [0.0, 0.0, 1.0, 1.0, 2.0, f32::NAN, f32::INFINITY, 3.0];
    let (error, message) = error_of(run(
        &features,
        2,
        &[0; 4],
        &[0; 4],
        1,
        &config(SelectMethod::Moderate, 0.5),
    ));
    assert!(matches!(
        error,
        SelectError::NonFiniteFeature {
            row: 2,
            column: 1,
            ..
        }
    ));
    assert_eq!(message, "row 2, feature 1: value NaN is not finite");

    let features = [0.0, f32::NEG_INFINITY];
    let (_, message) = error_of(run(
        &features,
        1,
        &[0; 2],
        &[0, 2],
        1,
        &config(SelectMethod::All, 1.0),
    ));
    assert_eq!(message, "row 1, feature 0: value -inf is not finite");
}

#[test]
fn mismatched_lengths_are_rejected() {
    let moderate = config(SelectMethod::Moderate, 0.5);

    let (error, message) = error_of(run(&[1.0, 2.0, 3.0], 1, &[0, 0], &[0, 0, 0], 1, &moderate));
    assert_eq!(
        error,
        SelectError::LengthMismatch {
            name: "labels",
            expected: 3,
            found: 2
        }
    );
    assert_eq!(message, "labels has 2 rows, but features have 3 rows");

    let (_, message) = error_of(run(&[1.0, 2.0], 1, &[0, 0], &[0], 1, &moderate));
    assert_eq!(message, "split has 1 rows, but features have 2 rows");

    let (_, message) = error_of(run(&[1.0, 2.0, 3.0], 2, &[0], &[0], 1, &moderate));
    assert_eq!(
        message,
        "features contain 3 values, which is not a whole number of rows of 2 features"
    );

    let input = SelectInput {
        features: &[1.0, 2.0],
        dim: 1,
        labels: &[0, 0],
        split: &[0, 0],
        num_classes: 1,
        clean_labels: Some(&[0]),
    };
    let (_, message) = error_of(select(&input, &moderate, 0));
    assert_eq!(message, "clean labels has 1 rows, but features have 2 rows");
}

#[test]
fn bad_labels_splits_and_shapes_are_rejected() {
    let moderate = config(SelectMethod::Moderate, 0.5);

    let (_, message) = error_of(run(&[1.0, 2.0], 1, &[0, 4], &[0, 0], 2, &moderate));
    assert_eq!(message, "row 1: label 4 is out of range for 2 classes");

    let (_, message) = error_of(run(&[1.0, 2.0], 1, &[0, 0], &[0, 3], 1, &moderate));
    assert_eq!(
        message,
        "row 1: invalid split code 3: expected 0 (train), 1 (meta) or 2 (test)"
    );

    let (_, message) = error_of(run(&[], 0, &[], &[], 1, &moderate));
    assert_eq!(
        message,
        "invalid feature dimension 0: every row needs at least one feature"
    );

    let (_, message) = error_of(run(&[1.0], 1, &[0], &[0], 0, &moderate));
    assert_eq!(
        message,
        "invalid number of classes 0: expected at least one class"
    );
}
