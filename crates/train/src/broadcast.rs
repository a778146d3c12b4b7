//! Broadcast of the learned coreset weights to every training row.
//!
//! Meta-Weight-Net learns a weight for each source row (normally the
//! coreset). The final training needs a weight for each target row (normally
//! every training row). A target row that is also a source row keeps its own
//! weight under every rule but `constant`; the rule fills the others:
//! - `nearest`: the weight of the nearest source row by Euclidean distance,
//!   label-blind, ties to the lower row. This is the rule of Jafari et al.,
//!   "The Power of Few" (ICASSP 2024).
//! - `nearest-same-label`: the nearest source row with the same observed
//!   label. Rows of a label without any source row fall back to `nearest`,
//!   and the result counts those rows and names their labels.
//! - `knn`: the inverse-distance weighted mean over the `k` nearest source
//!   rows, label-blind. When some of them lie at distance 0, the weight is the
//!   plain mean of those coincident rows, which is the limit of the
//!   inverse-distance mean as their distance goes to 0.
//! - `constant`: the mean source weight for every target row, source rows
//!   included. It is the ablation that separates reweighting from a plain
//!   change of learning rate, so no row may keep a learned weight.
//! - `meta-net`: weights supplied by the caller, per row or from a function,
//!   so this module does not depend on the learner code.
//!
//! Shapes: features `[N, D]` row-major, labels `[N]`, target rows `[T]` and
//! source rows `[S]` ascending, source weights `[S]`; output weights `[T]`.
//! Nearest neighbours come from [`crate::neighbors::k_nearest`].

use std::collections::BTreeMap;
use std::error::Error;

use cwerm_config::{Broadcast, TrainConfig};

use crate::neighbors::{NeighborError, Neighbors, SearchConfig, k_nearest};

/// Error type that a meta-net weight function may return.
pub type MetaNetError = Box<dyn Error + Send + Sync>;

/// Function that returns the meta-net weight of each given row, in order.
pub type MetaNetFn<'a> = dyn FnMut(&[u32]) -> Result<Vec<f32>, MetaNetError> + 'a;

/// Borrowed input of [`broadcast`].
#[derive(Clone, Copy, Debug)]
pub struct BroadcastInput<'a> {
    /// Row-major features `[N, D]`.
    pub features: &'a [f32],
    /// Feature dimension `D`.
    pub dim: usize,
    /// Observed labels `[N]`.
    pub labels: &'a [u32],
    /// Rows that need a weight, strictly ascending `[T]`.
    pub targets: &'a [u32],
    /// Rows with a learned weight, strictly ascending `[S]`.
    pub sources: &'a [u32],
    /// Learned weight of each source row `[S]`.
    pub source_weights: &'a [f32],
}

/// Source of the weights of the `meta-net` rule.
pub enum MetaNetWeights<'a> {
    /// One weight per row of the feature matrix `[N]`; only the rows to fill are read.
    PerRow(&'a [f32]),
    /// Called once with the rows to fill (ascending); returns one weight per row.
    Compute(&'a mut MetaNetFn<'a>),
}

/// A broadcast rule with its parameters.
pub enum Rule<'a> {
    Nearest,
    NearestSameLabel,
    Knn { k: usize },
    Constant,
    MetaNet(MetaNetWeights<'a>),
}

impl<'a> Rule<'a> {
    /// Builds the rule named by `config.broadcast`; `meta_net` is required by
    /// `meta-net` and ignored by the other rules.
    pub fn from_config(
        config: &TrainConfig,
        meta_net: Option<MetaNetWeights<'a>>,
    ) -> Result<Self, BroadcastError> {
        match config.broadcast {
            Broadcast::Nearest => Ok(Rule::Nearest),
            Broadcast::NearestSameLabel => Ok(Rule::NearestSameLabel),
            Broadcast::Constant => Ok(Rule::Constant),
            Broadcast::Knn if config.k == 0 => Err(BroadcastError::ZeroK),
            Broadcast::Knn => Ok(Rule::Knn {
                k: config.k as usize,
            }),
            Broadcast::MetaNet => meta_net
                .map(Rule::MetaNet)
                .ok_or(BroadcastError::MissingMetaNet),
        }
    }
}

/// Weights of the target rows and how they were obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastWeights {
    /// One weight per target row `[T]`, in target order.
    pub weights: Vec<f32>,
    /// Target rows that are source rows and kept their own weight.
    pub own: usize,
    /// Target rows whose weight the rule filled.
    pub filled: usize,
    /// `nearest-same-label` only: filled rows whose label has no source row
    /// and that fell back to `nearest`.
    pub fallback_rows: usize,
    /// The labels of those rows, ascending.
    pub fallback_labels: Vec<u32>,
}

/// Invalid input to [`broadcast`] or a failed meta-net function.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error("invalid feature dimension 0: every row needs at least one feature")]
    ZeroDimension,

    #[error("features contain {len} values, but {rows} labelled rows of {dim} features need {expected}", expected = rows * dim)]
    FeatureShape { len: usize, rows: usize, dim: usize },

    #[error("{name} has {found} values, expected {expected}")]
    LengthMismatch {
        name: &'static str,
        expected: usize,
        found: usize,
    },

    #[error(
        "{name} are not strictly ascending: position {position} holds row {row} after row {previous}"
    )]
    NotAscending {
        name: &'static str,
        position: usize,
        row: u32,
        previous: u32,
    },

    #[error("{name} contain row {row}, which is out of range: there are {rows} rows")]
    RowOutOfRange {
        name: &'static str,
        row: u32,
        rows: usize,
    },

    #[error("{name} of row {row} is {value}, expected a finite number")]
    NonFiniteWeight {
        name: &'static str,
        row: u32,
        value: f32,
    },

    #[error("no source rows: {missing} target rows need a weight broadcast from them")]
    NoSources { missing: usize },

    #[error("invalid k 0 for the knn broadcast: expected at least 1")]
    ZeroK,

    #[error(
        "the meta-net broadcast needs meta-net weights: pass per-row weights or a function that computes them"
    )]
    MissingMetaNet,

    #[error("meta-net weight function failed: {0}")]
    MetaNet(#[source] MetaNetError),

    #[error("meta-net weight function returned {found} weights for {expected} rows")]
    MetaNetCount { expected: usize, found: usize },

    #[error("nearest-neighbour search failed: {0}")]
    Search(#[from] NeighborError),
}

/// Gives every target row a weight: its own learned weight when it is a
/// source row (except under `constant`), otherwise the one `rule` assigns.
pub fn broadcast(
    input: &BroadcastInput<'_>,
    rule: Rule<'_>,
    search: &SearchConfig,
) -> Result<BroadcastWeights, BroadcastError> {
    validate(input)?;

    // Split the targets into rows with an own weight and rows to fill.
    let mut weights = vec![0.0f32; input.targets.len()];
    let mut fill_positions = Vec::new();
    let mut fill_rows = Vec::new();
    let mut source = 0;
    for (position, &row) in input.targets.iter().enumerate() {
        while source < input.sources.len() && input.sources[source] < row {
            source += 1;
        }
        let keeps_own = !matches!(rule, Rule::Constant);
        if keeps_own && source < input.sources.len() && input.sources[source] == row {
            weights[position] = input.source_weights[source];
        } else {
            fill_positions.push(position);
            fill_rows.push(row);
        }
    }

    let needs_sources = !matches!(rule, Rule::MetaNet(_));
    if needs_sources && !fill_rows.is_empty() && input.sources.is_empty() {
        return Err(BroadcastError::NoSources {
            missing: fill_rows.len(),
        });
    }

    if let Rule::MetaNet(MetaNetWeights::PerRow(per_row)) = &rule
        && per_row.len() != input.labels.len()
    {
        return Err(BroadcastError::LengthMismatch {
            name: "meta-net per-row weights",
            expected: input.labels.len(),
            found: per_row.len(),
        });
    }

    let mut fallback = Fallback::default();
    let filled = match rule {
        Rule::Nearest => nearest_weights(input, &fill_rows, input.sources, search)?,
        Rule::NearestSameLabel => same_label_weights(input, &fill_rows, search, &mut fallback)?,
        Rule::Knn { k } => knn_weights(input, &fill_rows, k, search)?,
        Rule::Constant => vec![mean_weight(input.source_weights); fill_rows.len()],
        Rule::MetaNet(source) => meta_net_weights(source, &fill_rows)?,
    };

    for (&position, weight) in fill_positions.iter().zip(filled) {
        weights[position] = weight;
    }

    Ok(BroadcastWeights {
        weights,
        own: input.targets.len() - fill_rows.len(),
        filled: fill_rows.len(),
        fallback_rows: fallback.rows,
        fallback_labels: fallback.labels,
    })
}

#[derive(Default)]
struct Fallback {
    rows: usize,
    labels: Vec<u32>,
}

fn validate(input: &BroadcastInput<'_>) -> Result<(), BroadcastError> {
    if input.dim == 0 {
        return Err(BroadcastError::ZeroDimension);
    }
    let rows = input.labels.len();
    if input.features.len() != rows * input.dim {
        return Err(BroadcastError::FeatureShape {
            len: input.features.len(),
            rows,
            dim: input.dim,
        });
    }
    if input.source_weights.len() != input.sources.len() {
        return Err(BroadcastError::LengthMismatch {
            name: "source weights",
            expected: input.sources.len(),
            found: input.source_weights.len(),
        });
    }

    check_rows("target rows", input.targets, rows)?;
    check_rows("source rows", input.sources, rows)?;
    check_weights("source weight", input.sources, input.source_weights)
}

/// Checks that `list` is strictly ascending and inside `0..rows`.
fn check_rows(name: &'static str, list: &[u32], rows: usize) -> Result<(), BroadcastError> {
    for (position, pair) in list.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(BroadcastError::NotAscending {
                name,
                position: position + 1,
                row: pair[1],
                previous: pair[0],
            });
        }
    }
    match list.last() {
        Some(&row) if row as usize >= rows => {
            Err(BroadcastError::RowOutOfRange { name, row, rows })
        }
        _ => Ok(()),
    }
}

fn check_weights(name: &'static str, rows: &[u32], weights: &[f32]) -> Result<(), BroadcastError> {
    match weights.iter().position(|weight| !weight.is_finite()) {
        None => Ok(()),
        Some(position) => Err(BroadcastError::NonFiniteWeight {
            name,
            row: rows[position],
            value: weights[position],
        }),
    }
}

/// Mean of the weights, accumulated in f64.
fn mean_weight(weights: &[f32]) -> f32 {
    let total: f64 = weights.iter().map(|&weight| f64::from(weight)).sum();
    (total / weights.len() as f64) as f32
}

/// Looks up the weight of a source row; `sources` is ascending.
fn source_weight(input: &BroadcastInput<'_>, row: u32) -> f32 {
    match input.sources.binary_search(&row) {
        Ok(position) => input.source_weights[position],
        Err(_) => unreachable!("neighbour row {row} is not a source row"),
    }
}

/// Weight of the nearest row of `candidates` for each row of `rows`.
fn nearest_weights(
    input: &BroadcastInput<'_>,
    rows: &[u32],
    candidates: &[u32],
    search: &SearchConfig,
) -> Result<Vec<f32>, BroadcastError> {
    let neighbors = k_nearest(input.features, input.dim, rows, candidates, 1, search)?;
    Ok((0..rows.len())
        .map(|position| source_weight(input, neighbors.of(position)[0].row))
        .collect())
}

/// Nearest source row with the same observed label, per label; labels without
/// a source row search all sources and are counted in `fallback`.
fn same_label_weights(
    input: &BroadcastInput<'_>,
    rows: &[u32],
    search: &SearchConfig,
    fallback: &mut Fallback,
) -> Result<Vec<f32>, BroadcastError> {
    let mut sources_by_label: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &row in input.sources {
        sources_by_label
            .entry(input.labels[row as usize])
            .or_default()
            .push(row);
    }
    let mut positions_by_label: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (position, &row) in rows.iter().enumerate() {
        positions_by_label
            .entry(input.labels[row as usize])
            .or_default()
            .push(position);
    }

    let mut weights = vec![0.0f32; rows.len()];
    for (label, positions) in positions_by_label {
        let group: Vec<u32> = positions.iter().map(|&position| rows[position]).collect();
        let candidates = match sources_by_label.get(&label) {
            Some(candidates) => candidates.as_slice(),
            None => {
                fallback.rows += group.len();
                fallback.labels.push(label);
                input.sources
            }
        };
        let group_weights = nearest_weights(input, &group, candidates, search)?;
        for (position, weight) in positions.into_iter().zip(group_weights) {
            weights[position] = weight;
        }
    }
    Ok(weights)
}

/// Inverse-distance weighted mean over the `k` nearest source rows.
fn knn_weights(
    input: &BroadcastInput<'_>,
    rows: &[u32],
    k: usize,
    search: &SearchConfig,
) -> Result<Vec<f32>, BroadcastError> {
    if k == 0 {
        return Err(BroadcastError::ZeroK);
    }
    let neighbors = k_nearest(input.features, input.dim, rows, input.sources, k, search)?;
    Ok((0..rows.len())
        .map(|position| inverse_distance_mean(input, &neighbors, position))
        .collect())
}

fn inverse_distance_mean(
    input: &BroadcastInput<'_>,
    neighbors: &Neighbors,
    position: usize,
) -> f32 {
    let list = neighbors.of(position);

    // Neighbours are sorted by distance, so coincident rows come first.
    let coincident: Vec<f64> = list
        .iter()
        .take_while(|neighbor| neighbor.distance == 0.0)
        .map(|neighbor| f64::from(source_weight(input, neighbor.row)))
        .collect();
    if !coincident.is_empty() {
        return (coincident.iter().sum::<f64>() / coincident.len() as f64) as f32;
    }

    let (mut weighted, mut total) = (0.0f64, 0.0f64);
    for neighbor in list {
        let inverse = 1.0 / neighbor.distance;
        weighted += inverse * f64::from(source_weight(input, neighbor.row));
        total += inverse;
    }
    (weighted / total) as f32
}

fn meta_net_weights(source: MetaNetWeights<'_>, rows: &[u32]) -> Result<Vec<f32>, BroadcastError> {
    let weights = match source {
        // The length of `per_row` was checked against the row count.
        MetaNetWeights::PerRow(per_row) => rows.iter().map(|&row| per_row[row as usize]).collect(),
        MetaNetWeights::Compute(compute) => {
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let weights = compute(rows).map_err(BroadcastError::MetaNet)?;
            if weights.len() != rows.len() {
                return Err(BroadcastError::MetaNetCount {
                    expected: rows.len(),
                    found: weights.len(),
                });
            }
            weights
        }
    };

    check_weights("meta-net weight", rows, &weights)?;
    Ok(weights)
}
