//! Broadcast rules on hand-placed points.

use cwerm_config::{Broadcast, TrainConfig};
use cwerm_train::broadcast::{
    BroadcastError, BroadcastInput, BroadcastWeights, MetaNetError, MetaNetWeights, Rule, broadcast,
};
use cwerm_train::neighbors::SearchConfig;

// Six rows on a line (1-D features) with observed labels:
//   row:   0    1    2    3    4    5
//   x:     0    1    4    6    9    2
//   label: 0    1    0    1    0    2
// Sources: row 0 (weight 0.1) and row 3 (weight 0.9). Targets: every row.
const FEATURES: [f32; 6] = [0.0, 1.0, 4.0, 6.0, 9.0, 2.0];
const LABELS: [u32; 6] = [0, 1, 0, 1, 0, 2];
const TARGETS: [u32; 6] = [0, 1, 2, 3, 4, 5];
const SOURCES: [u32; 2] = [0, 3];
const SOURCE_WEIGHTS: [f32; 2] = [0.1, 0.9];

fn line_input() -> BroadcastInput<'static> {
    BroadcastInput {
        features: &FEATURES,
        dim: 1,
        labels: &LABELS,
        targets: &TARGETS,
        sources: &SOURCES,
        source_weights: &SOURCE_WEIGHTS,
    }
}

fn run(rule: Rule<'_>) -> Result<BroadcastWeights, BroadcastError> {
    broadcast(&line_input(), rule, &SearchConfig::default())
}

fn assert_close(found: &[f32], expected: &[f64]) {
    assert_eq!(found.len(), expected.len());
    for (index, (&f, &e)) in found.iter().zip(expected).enumerate() {
        assert!(
            (f64::from(f) - e).abs() < 1e-6,
            "index {index}: found {f}, expected {e}"
        );
    }
}

#[test]
fn nearest_takes_closest_source() {
    // Row 1 (x 1): row 0 at 1 vs row 3 at 5 -> 0.1. Row 2 (x 4): 4 vs 2 -> 0.9.
    // Row 4 (x 9): 9 vs 3 -> 0.9. Row 5 (x 2): 2 vs 4 -> 0.1.
    let result = run(Rule::Nearest).unwrap();
    assert_eq!(result.weights, vec![0.1, 0.1, 0.9, 0.9, 0.9, 0.1]);
    assert_eq!(result.own, 2);
    assert_eq!(result.filled, 4);
    assert_eq!(result.fallback_rows, 0);
}

#[test]
fn nearest_same_label_falls_back_for_unseen_label() {
    // Row 1 (label 1): only source of label 1 is row 3 -> 0.9.
    // Rows 2 and 4 (label 0): row 0 -> 0.1.
    // Row 5 (label 2): no source with label 2, nearest overall is row 0 -> 0.1.
    let result = run(Rule::NearestSameLabel).unwrap();
    assert_eq!(result.weights, vec![0.1, 0.9, 0.1, 0.9, 0.1, 0.1]);
    assert_eq!(result.fallback_rows, 1);
    assert_eq!(result.fallback_labels, vec![2]);
}

#[test]
fn knn_takes_inverse_distance_mean() {
    // k = 2, so both sources: weight = (0.1 / d0 + 0.9 / d3) / (1 / d0 + 1 / d3).
    // Row 1: d 1 and 5 -> (0.1 + 0.18) / 1.2 = 0.2333...
    // Row 2: d 4 and 2 -> (0.025 + 0.45) / 0.75 = 0.6333...
    // Row 4: d 9 and 3 -> (0.0111... + 0.3) / 0.4444... = 0.7
    // Row 5: d 2 and 4 -> (0.05 + 0.225) / 0.75 = 0.3666...
    let result = run(Rule::Knn { k: 2 }).unwrap();
    let expected = [0.1, 0.28 / 1.2, 0.475 / 0.75, 0.9, 0.7, 0.275 / 0.75];
    assert_close(&result.weights, &expected);
}

#[test]
fn knn_with_one_neighbour_equals_nearest() {
    let knn = run(Rule::Knn { k: 1 }).unwrap();
    let nearest = run(Rule::Nearest).unwrap();
    assert_eq!(knn.weights, nearest.weights);
}

#[test]
fn knn_at_zero_distance_averages_coincident_sources() {
    // Sources: rows 0 and 1 both at x 1 (weights 0.2 and 0.6), row 2 at x 5
    // (weight 1.0). Row 3 sits at x 1: the plain mean of the two coincident
    // sources, (0.2 + 0.6) / 2 = 0.4, and row 2 is ignored.
    let features = [1.0, 1.0, 5.0, 1.0];
    let input = BroadcastInput {
        features: &features,
        dim: 1,
        labels: &[0; 4],
        targets: &[3],
        sources: &[0, 1, 2],
        source_weights: &[0.2, 0.6, 1.0],
    };
    let result = broadcast(&input, Rule::Knn { k: 3 }, &SearchConfig::default()).unwrap();
    assert_close(&result.weights, &[0.4]);
}

#[test]
fn constant_gives_every_row_mean_weight() {
    // Mean of 0.1 and 0.9 is 0.5; the source rows 0 and 3 get it too, so the
    // ablation carries no per-row signal.
    let result = run(Rule::Constant).unwrap();
    assert_close(&result.weights, &[0.5; 6]);
    assert_eq!(result.own, 0);
    assert_eq!(result.filled, 6);
}

#[test]
fn meta_net_per_row_fills_only_missing_rows() {
    let per_row = [0.0, 0.11, 0.22, 0.33, 0.44, 0.55];
    let result = run(Rule::MetaNet(MetaNetWeights::PerRow(&per_row))).unwrap();
    assert_eq!(result.weights, vec![0.1, 0.11, 0.22, 0.9, 0.44, 0.55]);
}

#[test]
fn meta_net_function_receives_rows_to_fill() {
    let mut seen = Vec::new();
    let mut compute = |rows: &[u32]| -> Result<Vec<f32>, MetaNetError> {
        seen.extend_from_slice(rows);
        Ok(rows.iter().map(|&row| row as f32 / 10.0).collect())
    };
    let result = run(Rule::MetaNet(MetaNetWeights::Compute(&mut compute))).unwrap();
    assert_eq!(result.weights, vec![0.1, 0.1, 0.2, 0.9, 0.4, 0.5]);
    assert_eq!(seen, vec![1, 2, 4, 5]);
}

#[test]
fn meta_net_function_errors_are_reported() {
    let mut failing =
        |_: &[u32]| -> Result<Vec<f32>, MetaNetError> { Err("learner not trained".into()) };
    let error = run(Rule::MetaNet(MetaNetWeights::Compute(&mut failing))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "meta-net weight function failed: learner not trained"
    );

    let mut short = |_: &[u32]| -> Result<Vec<f32>, MetaNetError> { Ok(vec![0.5]) };
    let error = run(Rule::MetaNet(MetaNetWeights::Compute(&mut short))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "meta-net weight function returned 1 weights for 4 rows"
    );

    let error = run(Rule::MetaNet(MetaNetWeights::PerRow(&[0.5; 3]))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "meta-net per-row weights has 3 values, expected 6"
    );

    let per_row = [0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0];
    let error = run(Rule::MetaNet(MetaNetWeights::PerRow(&per_row))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "meta-net weight of row 1 is NaN, expected a finite number"
    );
}

#[test]
fn targets_may_omit_sources() {
    // Targets 2 and 5 only; sources are still rows 0 and 3.
    let input = BroadcastInput {
        targets: &[2, 5],
        ..line_input()
    };
    let result = broadcast(&input, Rule::Nearest, &SearchConfig::default()).unwrap();
    assert_eq!(result.weights, vec![0.9, 0.1]);
    assert_eq!(result.own, 0);
    assert_eq!(result.filled, 2);
}

#[test]
fn rule_from_config_checks_parameters() {
    let mut config = TrainConfig {
        broadcast: Broadcast::Knn,
        k: 3,
        ..TrainConfig::default()
    };
    assert!(matches!(
        Rule::from_config(&config, None),
        Ok(Rule::Knn { k: 3 })
    ));

    config.k = 0;
    let error = Rule::from_config(&config, None).err().unwrap();
    assert_eq!(
        error.to_string(),
        "invalid k 0 for the knn broadcast: expected at least 1"
    );

    config.broadcast = Broadcast::MetaNet;
    let error = Rule::from_config(&config, None).err().unwrap();
    assert_eq!(
        error.to_string(),
        "the meta-net broadcast needs meta-net weights: pass per-row weights or a function that computes them"
    );

    config.broadcast = Broadcast::NearestSameLabel;
    assert!(matches!(
        Rule::from_config(&config, None),
        Ok(Rule::NearestSameLabel)
    ));
}

#[test]
fn bad_rows_and_weights_are_rejected() {
    let search = SearchConfig::default();

    let input = BroadcastInput {
        targets: &[0, 2, 2],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Nearest, &search).unwrap_err();
    assert_eq!(
        error.to_string(),
        "target rows are not strictly ascending: position 2 holds row 2 after row 2"
    );

    let input = BroadcastInput {
        sources: &[0, 6],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Nearest, &search).unwrap_err();
    assert_eq!(
        error.to_string(),
        "source rows contain row 6, which is out of range: there are 6 rows"
    );

    let input = BroadcastInput {
        source_weights: &[0.5],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Nearest, &search).unwrap_err();
    assert_eq!(error.to_string(), "source weights has 1 values, expected 2");

    let input = BroadcastInput {
        source_weights: &[0.5, f32::INFINITY],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Constant, &search).unwrap_err();
    assert_eq!(
        error.to_string(),
        "source weight of row 3 is inf, expected a finite number"
    );

    let input = BroadcastInput {
        sources: &[],
        source_weights: &[],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Constant, &search).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no source rows: 6 target rows need a weight broadcast from them"
    );

    let input = BroadcastInput {
        features: &FEATURES[..5],
        ..line_input()
    };
    let error = broadcast(&input, Rule::Nearest, &search).unwrap_err();
    assert_eq!(
        error.to_string(),
        "features contain 5 values, but 6 labelled rows of 1 features need 6"
    );
}

#[test]
fn non_finite_feature_is_reported_by_search() {
    let mut features = FEATURES;
    features[4] = f32::NAN;
    let input = BroadcastInput {
        features: &features,
        ..line_input()
    };
    let error = broadcast(&input, Rule::Nearest, &SearchConfig::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "nearest-neighbour search failed: row 4, feature 0: value NaN is not finite"
    );
}
