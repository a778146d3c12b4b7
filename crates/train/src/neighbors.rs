//! Exact k-nearest-neighbour search by blocked matrix products.
//!
//! Queries and candidates are rows of one row-major feature matrix `[N, D]`.
//! For each block of query rows `[b, D]` and each block of candidate rows
//! `[c, D]`, one single-threaded gemm gives the dot products `[b, c]`, and the
//! squared distances follow from `|a|^2 - 2 a.b + |b|^2`. Blocks of queries
//! run in parallel (rayon).
//!
//! That expansion loses precision when two vectors are close compared to
//! their norms, so the search
//! 1. subtracts the mean candidate from every vector before the product, which
//!    keeps the norms small for clustered data, and
//! 2. treats the gemm distances as a filter only. Every candidate whose
//!    approximate squared distance lies within twice the rounding bound of the
//!    k-th best is measured again exactly, as an f64 sum of squared
//!    differences of the original features. The final ranking uses those
//!    exact values, ties broken by the lower row.
//!
//! The rounding bound is `(D + 16) * f32::EPSILON * (|a|^2 + max |b|^2)`, from
//! the standard dot-product bound `|fl(a.b) - a.b| <= D u |a| |b|` (u =
//! `f32::EPSILON / 2`) plus the roundings of the norms, the sum and the
//! centring. The result is therefore the exact k-NN under f64 distances, and
//! it does not depend on the block sizes.
//!
//! NOTE: when many candidates lie within the rounding bound of the k-th best
//! (near-ties, such as rows that are shifted copies of each other), each of
//! them is measured again, and the search slows towards an f64 brute force.
//!
//! Memory: the candidate rows are gathered once, centred, into `[M, D]` f32.
//! Each worker then holds one query block `[b, D]`, one product block `[b, c]`
//! and its running top-k, so memory beyond the candidates is bounded by
//! `threads * b * (D + c)` floats whatever the number of queries.

use rayon::prelude::*;

/// Block sizes of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchConfig {
    /// Query rows per block, `b`.
    pub query_block: usize,
    /// Candidate rows per gemm, `c`.
    pub candidate_block: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            query_block: 256,
            candidate_block: 2048,
        }
    }
}

/// One neighbour of a query row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// Row of the candidate in the feature matrix.
    pub row: u32,
    /// Exact Euclidean distance, computed in f64.
    pub distance: f64,
}

/// The `k` nearest candidates of every query, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbors {
    k: usize,
    list: Vec<Neighbor>,
}

impl Neighbors {
    /// Neighbours per query: the requested `k`, or the candidate count when smaller.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.list.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Neighbours of the query at `position` in the query list, sorted by
    /// (distance, row). Panics when `position >= self.len()`.
    pub fn of(&self, position: usize) -> &[Neighbor] {
        &self.list[position * self.k..(position + 1) * self.k]
    }
}

/// Invalid input to [`k_nearest`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NeighborError {
    #[error("invalid feature dimension 0: every row needs at least one feature")]
    ZeroDimension,

    #[error("features contain {len} values, which is not a whole number of rows of {dim} features")]
    RaggedFeatures { len: usize, dim: usize },

    #[error("{name} row {row} is out of range: features have {rows} rows")]
    RowOutOfRange {
        name: &'static str,
        row: u32,
        rows: usize,
    },

    #[error("no candidate rows: {queries} query rows need a neighbour")]
    NoCandidates { queries: usize },

    #[error("invalid neighbour count 0: expected at least 1")]
    ZeroK,

    #[error("invalid {name} 0: expected at least 1 row per block")]
    ZeroBlock { name: &'static str },

    #[error("row {row}, feature {column}: value {value} is not finite")]
    NonFiniteFeature { row: u32, column: usize, value: f32 },
}

/// Finds the `k` nearest `candidates` of every row in `queries` by Euclidean
/// distance, nearest first, ties to the lower row. When fewer than `k`
/// candidates exist, every query gets all of them.
///
/// `features` is row-major `[N, D]` with `D = dim`; `queries` and `candidates`
/// are rows of it (any order, duplicates allowed). A query that is also a
/// candidate finds itself at distance 0.
pub fn k_nearest(
    features: &[f32],
    dim: usize,
    queries: &[u32],
    candidates: &[u32],
    k: usize,
    config: &SearchConfig,
) -> Result<Neighbors, NeighborError> {
    validate(features, dim, queries, candidates, k, config)?;
    if queries.is_empty() {
        return Ok(Neighbors {
            k,
            list: Vec::new(),
        });
    }

    let k = k.min(candidates.len());
    let gathered = CentredCandidates::gather(features, dim, candidates);

    let blocks: Vec<Vec<Neighbor>> = queries
        .par_chunks(config.query_block)
        .map(|block| search_block(features, dim, block, &gathered, k, config.candidate_block))
        .collect();

    Ok(Neighbors {
        k,
        list: blocks.concat(),
    })
}

fn validate(
    features: &[f32],
    dim: usize,
    queries: &[u32],
    candidates: &[u32],
    k: usize,
    config: &SearchConfig,
) -> Result<(), NeighborError> {
    if dim == 0 {
        return Err(NeighborError::ZeroDimension);
    }
    if !features.len().is_multiple_of(dim) {
        return Err(NeighborError::RaggedFeatures {
            len: features.len(),
            dim,
        });
    }
    if k == 0 {
        return Err(NeighborError::ZeroK);
    }
    if config.query_block == 0 {
        return Err(NeighborError::ZeroBlock {
            name: "query block",
        });
    }
    if config.candidate_block == 0 {
        return Err(NeighborError::ZeroBlock {
            name: "candidate block",
        });
    }
    if !queries.is_empty() && candidates.is_empty() {
        return Err(NeighborError::NoCandidates {
            queries: queries.len(),
        });
    }

    let rows = features.len() / dim;
    for (name, list) in [("query", queries), ("candidate", candidates)] {
        if let Some(&row) = list.iter().find(|&&row| row as usize >= rows) {
            return Err(NeighborError::RowOutOfRange { name, row, rows });
        }
    }
    for list in [queries, candidates] {
        check_finite(features, dim, list)?;
    }
    Ok(())
}

/// Names the first row of `rows` (in list order) that contains NaN or an infinity.
fn check_finite(features: &[f32], dim: usize, rows: &[u32]) -> Result<(), NeighborError> {
    let values_of = |row: u32| &features[row as usize * dim..(row as usize + 1) * dim];
    let bad = rows
        .par_iter()
        .position_first(|&row| values_of(row).iter().any(|value| !value.is_finite()));

    match bad {
        None => Ok(()),
        Some(position) => {
            let row = rows[position];
            let values = values_of(row);
            let column = values
                .iter()
                .position(|value| !value.is_finite())
                .unwrap_or(0);
            Err(NeighborError::NonFiniteFeature {
                row,
                column,
                value: values[column],
            })
        }
    }
}

/// Candidate rows minus their mean `[M, D]`, their squared norms `[M]` and the mean `[D]`.
struct CentredCandidates<'a> {
    rows: &'a [u32],
    values: Vec<f32>,
    norms: Vec<f32>,
    mean: Vec<f32>,
}

impl<'a> CentredCandidates<'a> {
    fn gather(features: &[f32], dim: usize, rows: &'a [u32]) -> Self {
        let mut sum = vec![0.0f64; dim];
        for &row in rows {
            let start = row as usize * dim;
            for (total, &value) in sum.iter_mut().zip(&features[start..start + dim]) {
                *total += f64::from(value);
            }
        }
        let mean: Vec<f32> = sum
            .iter()
            .map(|total| (total / rows.len() as f64) as f32)
            .collect();

        let mut values = vec![0.0f32; rows.len() * dim];
        let mut norms = vec![0.0f32; rows.len()];
        values
            .par_chunks_mut(dim)
            .zip(norms.par_iter_mut())
            .zip(rows.par_iter())
            .for_each(|((centred, norm), &row)| {
                *norm = centre_row(features, dim, row, &mean, centred);
            });

        Self {
            rows,
            values,
            norms,
            mean,
        }
    }
}

/// Writes `features[row] - mean` into `out` and returns its squared norm.
fn centre_row(features: &[f32], dim: usize, row: u32, mean: &[f32], out: &mut [f32]) -> f32 {
    let start = row as usize * dim;
    for ((slot, &value), &centre) in out.iter_mut().zip(&features[start..start + dim]).zip(mean) {
        *slot = value - centre;
    }
    squared_norm(out) as f32
}

/// Exact squared distance between two rows, summed in f64.
fn exact_squared_distance(features: &[f32], dim: usize, a: u32, b: u32) -> f64 {
    let a = &features[a as usize * dim..(a as usize + 1) * dim];
    let b = &features[b as usize * dim..(b as usize + 1) * dim];
    sum_squared_differences(a, b)
}

/// Lanes of the f64 sums below. Independent partial sums let the compiler
/// vectorise the loop, while one running f64 sum is bound by add latency.
const LANES: usize = 8;

/// Sums `x_i^2` in f64 over [`LANES`] partial sums.
fn squared_norm(values: &[f32]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();

    for chunk in chunks {
        for lane in 0..LANES {
            let x = f64::from(chunk[lane]);
            lanes[lane] += x * x;
        }
    }

    let mut total: f64 = lanes.iter().sum();
    for &x in rest {
        total += f64::from(x) * f64::from(x);
    }
    total
}

/// Sums `(a_i - b_i)^2` in f64 over [`LANES`] partial sums.
fn sum_squared_differences(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0.0f64; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());

    for (a_chunk, b_chunk) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            let d = f64::from(a_chunk[lane]) - f64::from(b_chunk[lane]);
            lanes[lane] += d * d;
        }
    }

    let mut total: f64 = lanes.iter().sum();
    for (&x, &y) in a_rest.iter().zip(b_rest) {
        let d = f64::from(x) - f64::from(y);
        total += d * d;
    }
    total
}

/// Inserts a candidate into `best` (sorted by squared distance, then row, at
/// most `k` long) when it ranks among the `k` nearest.
fn insert_ranked(best: &mut Vec<(f64, u32)>, k: usize, candidate: (f64, u32)) {
    let position = best.partition_point(|&entry| entry < candidate);
    if position < k {
        best.insert(position, candidate);
        best.truncate(k);
    }
}

/// Searches one block of queries against every candidate block.
fn search_block(
    features: &[f32],
    dim: usize,
    queries: &[u32],
    candidates: &CentredCandidates<'_>,
    k: usize,
    candidate_block: usize,
) -> Vec<Neighbor> {
    let b = queries.len();
    let mut centred = vec![0.0f32; b * dim];
    let mut query_norms = vec![0.0f32; b];
    for ((out, norm), &row) in centred.chunks_mut(dim).zip(&mut query_norms).zip(queries) {
        *norm = centre_row(features, dim, row, &candidates.mean, out);
    }

    let tolerance_factor = (dim as f64 + 16.0) * f64::from(f32::EPSILON);
    let m = candidates.rows.len();
    let mut best: Vec<Vec<(f64, u32)>> = vec![Vec::with_capacity(k + 1); b];
    let mut products = vec![0.0f32; b * candidate_block.min(m)];
    let mut approximate = Vec::with_capacity(candidate_block.min(m));
    let mut ranked = Vec::with_capacity(candidate_block.min(m));

    for start in (0..m).step_by(candidate_block) {
        let width = candidate_block.min(m - start);
        let block_norms = &candidates.norms[start..start + width];
        let block_rows = &candidates.rows[start..start + width];
        let max_norm = block_norms.iter().copied().fold(0.0f32, f32::max);
        multiply_transposed(
            &centred,
            &candidates.values[start * dim..(start + width) * dim],
            &mut products[..b * width],
            b,
            width,
            dim,
        );

        for (q, query_best) in best.iter_mut().enumerate() {
            // Approximate squared distances of this query to the block.
            approximate.clear();
            approximate.extend(
                products[q * width..(q + 1) * width]
                    .iter()
                    .zip(block_norms)
                    .map(|(&product, &norm)| f64::from(query_norms[q] + norm - 2.0 * product)),
            );
            let tolerance = tolerance_factor * (f64::from(query_norms[q]) + f64::from(max_norm));

            // Candidates farther than the k-th best by more than the rounding
            // bound cannot enter the top k.
            let mut threshold = f64::INFINITY;
            if width > k {
                ranked.clear();
                ranked.extend_from_slice(&approximate);
                let (_, kth, _) = ranked.select_nth_unstable_by(k - 1, f64::total_cmp);
                threshold = *kth + 2.0 * tolerance;
            }
            if query_best.len() == k {
                threshold = threshold.min(query_best[k - 1].0 + tolerance);
            }
            if threshold.is_nan() {
                threshold = f64::INFINITY;
            }

            for (j, &distance) in approximate.iter().enumerate() {
                if distance.is_nan() || distance <= threshold {
                    let row = block_rows[j];
                    let exact = exact_squared_distance(features, dim, queries[q], row);
                    insert_ranked(query_best, k, (exact, row));
                }
            }
        }
    }

    best.into_iter()
        .flatten()
        .map(|(squared, row)| Neighbor {
            row,
            distance: squared.sqrt(),
        })
        .collect()
}

/// `out [b, c] = a [b, d] x candidates [c, d]^T`, all row-major, on the calling thread.
fn multiply_transposed(
    a: &[f32],
    candidates: &[f32],
    out: &mut [f32],
    b: usize,
    c: usize,
    d: usize,
) {
    assert_eq!(a.len(), b * d);
    assert_eq!(candidates.len(), c * d);
    assert_eq!(out.len(), b * c);

    // SAFETY: the asserts above give every operand the extent that the
    // dimensions and strides below address. `out` is b x c with row stride c
    // and `a` is b x d with row stride d. The right operand is the d x c
    // transpose of the c x d candidates, so its row stride is 1 and its
    // column stride is d.
    unsafe {
        gemm::gemm(
            b,
            c,
            d,
            out.as_mut_ptr(),
            1,
            c as isize,
            false,
            a.as_ptr(),
            1,
            d as isize,
            candidates.as_ptr(),
            d as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
