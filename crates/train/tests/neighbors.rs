//! Blocked k-nearest-neighbour search against a brute-force loop.

use cwerm_train::neighbors::{NeighborError, SearchConfig, k_nearest};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Brute force: every candidate's f64 squared distance, sorted by (distance, row).
fn brute_force(
    features: &[f32],
    dim: usize,
    query: u32,
    candidates: &[u32],
    k: usize,
) -> Vec<(u32, f64)> {
    let row = |r: u32| &features[r as usize * dim..(r as usize + 1) * dim];
    let mut all: Vec<(f64, u32)> = candidates
        .iter()
        .map(|&c| {
            let squared: f64 = row(query)
                .iter()
                .zip(row(c))
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum();
            (squared, c)
        })
        .collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    all.into_iter()
        .take(k)
        .map(|(squared, c)| (c, squared.sqrt()))
        .collect()
}

fn random_features(rows: usize, dim: usize, seed: u64, offset: f32, scale: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * dim)
        .map(|_| offset + scale * rng.random::<f32>())
        .collect()
}

fn check_against_brute_force(
    features: &[f32],
    dim: usize,
    queries: &[u32],
    candidates: &[u32],
    k: usize,
) {
    let neighbors = k_nearest(
        features,
        dim,
        queries,
        candidates,
        k,
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(neighbors.len(), queries.len());
    for (position, &query) in queries.iter().enumerate() {
        let expected = brute_force(features, dim, query, candidates, k);
        let found = neighbors.of(position);
        let rows: Vec<u32> = found.iter().map(|neighbor| neighbor.row).collect();
        let expected_rows: Vec<u32> = expected.iter().map(|&(row, _)| row).collect();
        assert_eq!(rows, expected_rows, "query row {query}");

        // The search sums in another order, so distances agree up to rounding.
        for (neighbor, &(_, distance)) in found.iter().zip(&expected) {
            let error = (neighbor.distance - distance).abs();
            assert!(
                error <= 1e-12 * distance,
                "query row {query}: {} vs {distance}",
                neighbor.distance
            );
        }
    }
}

#[test]
fn nearest_matches_brute_force() {
    // 700 rows in 37-D: rows 0..500 query, every fourth row a candidate.
    let dim = 37;
    let features = random_features(700, dim, 3, 0.0, 1.0);
    let queries: Vec<u32> = (0..500).collect();
    let candidates: Vec<u32> = (0..700).step_by(4).collect();
    for k in [1, 5] {
        check_against_brute_force(&features, dim, &queries, &candidates, k);
    }
}

#[test]
fn nearest_is_exact_for_points_far_from_origin() {
    // Values 1000 + U(0, 0.001): in f32, |a|^2 - 2 a.b + |b|^2 cancels almost
    // every digit, so this only passes through centring and exact re-checks.
    let dim = 64;
    let features = random_features(300, dim, 5, 1000.0, 1e-3);
    let queries: Vec<u32> = (0..300).step_by(2).collect();
    let candidates: Vec<u32> = (1..300).step_by(2).collect();
    check_against_brute_force(&features, dim, &queries, &candidates, 3);
}

#[test]
fn block_sizes_do_not_change_result() {
    let dim = 19;
    let features = random_features(400, dim, 9, -2.0, 4.0);
    let queries: Vec<u32> = (0..400).rev().collect();
    let candidates: Vec<u32> = (0..400).step_by(3).collect();

    let reference = k_nearest(
        &features,
        dim,
        &queries,
        &candidates,
        4,
        &SearchConfig::default(),
    )
    .unwrap();
    for (query_block, candidate_block) in [(1, 1), (7, 13), (64, 4), (1000, 5000)] {
        let config = SearchConfig {
            query_block,
            candidate_block,
        };
        let neighbors = k_nearest(&features, dim, &queries, &candidates, 4, &config).unwrap();
        assert_eq!(
            neighbors, reference,
            "blocks {query_block} x {candidate_block}"
        );
    }
}

#[test]
fn ties_go_to_lower_row() {
    // 2-D: query row 0 at the origin; rows 3, 1 and 2 all at distance 1.
    let features = [0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.0, 1.0];
    let neighbors = k_nearest(&features, 2, &[0], &[3, 2, 1], 2, &SearchConfig::default()).unwrap();
    let rows: Vec<u32> = neighbors
        .of(0)
        .iter()
        .map(|neighbor| neighbor.row)
        .collect();
    assert_eq!(rows, vec![1, 2]);
    assert_eq!(neighbors.of(0)[0].distance, 1.0);
}

#[test]
fn query_among_candidates_finds_itself() {
    let features = [0.0, 5.0, 7.0];
    let neighbors = k_nearest(
        &features,
        1,
        &[1, 2],
        &[0, 1, 2],
        1,
        &SearchConfig::default(),
    )
    .unwrap();
    assert_eq!(neighbors.of(0)[0].row, 1);
    assert_eq!(neighbors.of(0)[0].distance, 0.0);
    assert_eq!(neighbors.of(1)[0].row, 2);
}

#[test]
fn k_above_candidate_count_returns_all() {
    let features = [0.0, 1.0, 3.0];
    let neighbors = k_nearest(&features, 1, &[0], &[2, 1], 10, &SearchConfig::default()).unwrap();
    assert_eq!(neighbors.k(), 2);
    let found: Vec<(u32, f64)> = neighbors
        .of(0)
        .iter()
        .map(|n| (n.row, n.distance))
        .collect();
    assert_eq!(found, vec![(1, 1.0), (2, 3.0)]);
}

#[test]
fn no_queries_gives_empty_result() {
    let neighbors = k_nearest(&[1.0], 1, &[], &[], 1, &SearchConfig::default()).unwrap();
    assert!(neighbors.is_empty());
    assert_eq!(neighbors.len(), 0);
}

#[test]
fn bad_search_input_is_rejected() {
    let config = SearchConfig::default();
    let features = [0.0, 1.0, f32::NAN, 3.0];

    let error = k_nearest(&features, 1, &[0], &[], 1, &config).unwrap_err();
    assert_eq!(error, NeighborError::NoCandidates { queries: 1 });
    assert_eq!(
        error.to_string(),
        "no candidate rows: 1 query rows need a neighbour"
    );

    let error = k_nearest(&features, 1, &[0], &[4], 1, &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "candidate row 4 is out of range: features have 4 rows"
    );

    let error = k_nearest(&features, 1, &[0], &[1, 2], 1, &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "row 2, feature 0: value NaN is not finite"
    );

    let error = k_nearest(&features, 1, &[0], &[1], 0, &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid neighbour count 0: expected at least 1"
    );

    let error = k_nearest(&features, 3, &[0], &[1], 1, &config).unwrap_err();
    assert_eq!(
        error.to_string(),
        "features contain 4 values, which is not a whole number of rows of 3 features"
    );

    let zero_block = SearchConfig {
        query_block: 0,
        candidate_block: 8,
    };
    let error = k_nearest(&features, 1, &[0], &[1], 1, &zero_block).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid query block 0: expected at least 1 row per block"
    );
}
