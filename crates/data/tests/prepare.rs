//! Subset, meta hold-out, imbalance and label noise on the real
//! Fashion-MNIST, and the errors of out-of-range settings.

mod common;

use common::{fashion_config, fashion_raw};
use cwerm_config::{NoiseKind, PrepareConfig};
use cwerm_data::{DataError, Prepared, SPLIT_META, SPLIT_TEST, SPLIT_TRAIN, prepare, prepare_from};

fn prepare_fashion(config: &PrepareConfig) -> Prepared {
    prepare_from(fashion_raw(), config).unwrap()
}

/// Builds the default job's settings: 10 meta rows per class and noise of `kind` at `rate`.
fn noisy_config(kind: NoiseKind, rate: f64) -> PrepareConfig {
    PrepareConfig {
        meta_per_class: 10,
        noise: kind,
        noise_rate: rate,
        ..fashion_config()
    }
}

fn rows_of(prepared: &Prepared, split: u8) -> impl Iterator<Item = usize> + '_ {
    (0..prepared.len()).filter(move |&row| prepared.split[row] == split)
}

fn count_per_class(prepared: &Prepared, split: u8) -> Vec<usize> {
    let mut counts = vec![0; prepared.num_classes];
    for row in rows_of(prepared, split) {
        counts[prepared.clean_labels[row] as usize] += 1;
    }
    counts
}

#[test]
fn symmetric_noise_rate_is_close_to_p() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));

    // 60,000 less 10 meta rows per class.
    assert_eq!(prepared.summary.train, 59_900);
    let flipped = rows_of(&prepared, SPLIT_TRAIN)
        .filter(|&row| prepared.labels[row] != prepared.clean_labels[row])
        .count();
    assert_eq!(flipped, prepared.summary.flipped);
    let rate = prepared.summary.realised_noise_rate;
    assert!((rate - 0.4).abs() < 0.01, "realised rate {rate}");
}

#[test]
fn symmetric_noise_spreads_over_the_other_classes() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));

    // A flip goes to each of the 9 other classes with probability 1/9.
    let mut targets = vec![vec![0usize; 10]; 10];
    for row in rows_of(&prepared, SPLIT_TRAIN) {
        let (clean, observed) = (prepared.clean_labels[row], prepared.labels[row]);
        if clean != observed {
            targets[clean as usize][observed as usize] += 1;
        }
    }
    for (clean, row) in targets.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (observed, &count) in row.iter().enumerate() {
            if observed == clean {
                continue;
            }
            let share = count as f64 / total as f64;
            assert!(
                (share - 1.0 / 9.0).abs() < 0.03,
                "class {clean} -> {observed}: share {share}"
            );
        }
    }
}

#[test]
fn pair_noise_moves_to_the_next_class_only() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Pair, 0.3));

    let rate = prepared.summary.realised_noise_rate;
    assert!((rate - 0.3).abs() < 0.01, "realised rate {rate}");
    for row in rows_of(&prepared, SPLIT_TRAIN) {
        let (clean, observed) = (prepared.clean_labels[row], prepared.labels[row]);
        assert!(
            observed == clean || observed == (clean + 1) % 10,
            "row {row}: {clean} -> {observed}"
        );
    }
}

#[test]
fn meta_and_test_labels_stay_clean() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));

    for split in [SPLIT_META, SPLIT_TEST] {
        for row in rows_of(&prepared, split) {
            assert_eq!(
                prepared.labels[row], prepared.clean_labels[row],
                "row {row} of split {split}"
            );
        }
    }
}

#[test]
fn meta_set_is_class_balanced() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));

    assert_eq!(count_per_class(&prepared, SPLIT_META), vec![10; 10]);
    assert_eq!(prepared.summary.meta_per_class, vec![10; 10]);
    assert_eq!(prepared.summary.train_per_class, vec![5_990; 10]);
    assert_eq!(prepared.summary.test_per_class, vec![1_000; 10]);
}

#[test]
fn rows_are_training_split_then_test_in_reader_order() {
    let prepared = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));
    let raw = fashion_raw();

    assert_eq!(prepared.len(), 70_000);
    assert_eq!(prepared.image_shape(), [70_000, 28, 28, 1]);
    assert!(
        prepared.split[..60_000]
            .iter()
            .all(|&split| split != SPLIT_TEST)
    );
    assert!(
        prepared.split[60_000..]
            .iter()
            .all(|&split| split == SPLIT_TEST)
    );
    assert_eq!(prepared.clean_labels[..60_000], raw.train.labels[..]);
    assert_eq!(prepared.clean_labels[60_000..], raw.test.labels[..]);
    assert_eq!(prepared.images[..60_000 * 784], raw.train.images[..]);
}

#[test]
fn same_seeds_give_identical_output() {
    let config = noisy_config(NoiseKind::Symmetric, 0.4);
    assert_eq!(prepare_fashion(&config), prepare_fashion(&config));
}

#[test]
fn noise_seed_changes_labels_only() {
    let first = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));
    let second = prepare_fashion(&PrepareConfig {
        noise_seed: 1,
        ..noisy_config(NoiseKind::Symmetric, 0.4)
    });

    assert_ne!(first.labels, second.labels);
    assert_eq!(first.clean_labels, second.clean_labels);
    assert_eq!(first.split, second.split);
    assert_eq!(first.images, second.images);
}

#[test]
fn noise_rate_change_keeps_rows_and_grows_the_flipped_set() {
    let low = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.2));
    let high = prepare_fashion(&noisy_config(NoiseKind::Symmetric, 0.4));

    assert_eq!(low.split, high.split);
    assert_eq!(low.images, high.images);
    for row in 0..low.len() {
        if low.labels[row] != low.clean_labels[row] {
            assert_ne!(
                high.labels[row], high.clean_labels[row],
                "row {row} flips at 0.2 but not at 0.4"
            );
        }
    }
}

#[test]
fn split_seed_changes_the_meta_set() {
    let first = prepare_fashion(&noisy_config(NoiseKind::None, 0.0));
    let second = prepare_fashion(&PrepareConfig {
        split_seed: 1,
        ..noisy_config(NoiseKind::None, 0.0)
    });

    assert_ne!(first.split, second.split);
    assert_eq!(count_per_class(&second, SPLIT_META), vec![10; 10]);
}

#[test]
fn clean_config_keeps_every_label() {
    let prepared = prepare_fashion(&PrepareConfig {
        noise_rate: 0.4,
        ..noisy_config(NoiseKind::None, 0.0)
    });
    assert_eq!(prepared.labels, prepared.clean_labels);
    assert_eq!(prepared.summary.flipped, 0);
    assert_eq!(prepared.summary.realised_noise_rate, 0.0);
}

#[test]
fn imbalance_counts_follow_the_formula() {
    let factor = 10.0;
    let prepared = prepare_fashion(&PrepareConfig {
        imbalance_factor: factor,
        ..noisy_config(NoiseKind::Symmetric, 0.4)
    });

    // n_max = 6,000 - 10 meta rows = 5,990; class c keeps
    // round(5990 * 10^(-c/9)), e.g. 5990, 4641, ..., 599 for class 9.
    let expected: Vec<usize> = (0..10)
        .map(|class| (5_990.0 * factor.powf(-(class as f64) / 9.0)).round() as usize)
        .collect();
    assert_eq!(expected[9], 599);
    assert_eq!(count_per_class(&prepared, SPLIT_TRAIN), expected);
    assert_eq!(prepared.summary.train_per_class, expected);
    assert_eq!(count_per_class(&prepared, SPLIT_META), vec![10; 10]);
    assert_eq!(prepared.summary.test, 10_000);
    let rate = prepared.summary.realised_noise_rate;
    assert!((rate - 0.4).abs() < 0.01, "realised rate {rate}");
}

#[test]
fn subset_counts_are_exact() {
    let prepared = prepare_fashion(&PrepareConfig {
        subset_per_class: 50,
        meta_per_class: 5,
        noise: NoiseKind::Symmetric,
        noise_rate: 0.4,
        ..fashion_config()
    });

    assert_eq!(prepared.len(), 1_000);
    assert_eq!(count_per_class(&prepared, SPLIT_TRAIN), vec![45; 10]);
    assert_eq!(count_per_class(&prepared, SPLIT_META), vec![5; 10]);
    assert_eq!(count_per_class(&prepared, SPLIT_TEST), vec![50; 10]);
}

#[test]
fn subset_larger_than_a_class_is_rejected() {
    let error = prepare_from(
        fashion_raw(),
        &PrepareConfig {
            subset_per_class: 1_001,
            ..fashion_config()
        },
    )
    .unwrap_err();
    // The test split has exactly 1,000 images of each class.
    assert_eq!(
        error.to_string(),
        "prepare.subset_per_class: 1001 rows needed, but class 0 (`0`) has only 1000 test rows; lower prepare.subset_per_class"
    );
}

#[test]
fn meta_per_class_larger_than_a_class_is_rejected() {
    let error = prepare_from(
        fashion_raw(),
        &PrepareConfig {
            subset_per_class: 20,
            meta_per_class: 21,
            ..fashion_config()
        },
    )
    .unwrap_err();
    // 21 meta rows plus the one training row every class must keep.
    assert!(matches!(
        error,
        DataError::NotEnoughRows {
            requested: 22,
            available: 20,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "prepare.meta_per_class: 22 rows needed, but class 0 (`0`) has only 20 training rows; lower prepare.meta_per_class"
    );
}

#[test]
fn meta_set_must_leave_a_training_row() {
    let error = prepare_from(
        fashion_raw(),
        &PrepareConfig {
            subset_per_class: 20,
            meta_per_class: 20,
            ..fashion_config()
        },
    )
    .unwrap_err();
    assert!(error.to_string().contains("21 rows needed"), "{error}");
}

#[test]
fn noise_rate_outside_unit_interval_is_rejected() {
    for rate in [1.0, -0.1, f64::NAN] {
        let config = PrepareConfig {
            noise_rate: rate,
            ..noisy_config(NoiseKind::Symmetric, 0.0)
        };
        // `prepare` checks the config before it reads any file.
        let error = prepare(&config).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("invalid prepare.noise_rate: expected a rate in [0, 1), found {rate}")
        );
        assert!(prepare_from(fashion_raw(), &config).is_err());
    }
}

#[test]
fn imbalance_factor_below_one_is_rejected() {
    for factor in [0.5, f64::INFINITY] {
        let config = PrepareConfig {
            imbalance_factor: factor,
            ..fashion_config()
        };
        let error = prepare(&config).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "invalid prepare.imbalance_factor: expected a finite factor >= 1, found {factor}"
            )
        );
    }
}

#[test]
fn inconsistent_raw_dataset_is_rejected() {
    let mut raw = fashion_raw().clone();
    raw.test.labels[3] = 10;
    let error = prepare_from(&raw, &fashion_config())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid data set: expected test labels below the class count 10, found label 10"
    );
}

#[test]
fn missing_data_path_is_not_found() {
    let config = PrepareConfig {
        path: "/nonexistent/cwerm-data".into(),
        ..PrepareConfig::default()
    };
    let error = cwerm_data::prepare(&config).unwrap_err().to_string();
    assert!(
        error.starts_with("/nonexistent/cwerm-data: failed to open the data set path"),
        "{error}"
    );
    assert!(error.contains("No such file or directory"), "{error}");
    let error = cwerm_data::source_files(&config).unwrap_err().to_string();
    assert!(
        error.contains("failed to open the data set path"),
        "{error}"
    );
}
