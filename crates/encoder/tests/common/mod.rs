//! Helpers shared by the integration tests: the committed reference fixture,
//! the fetched weights and data (missing files fail with the fetch command),
//! and error measures.

#![allow(dead_code)]

use std::path::PathBuf;

use cwerm_encoder::lite0::Lite0Params;

/// Root of the repository, two levels above this crate.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the path of the converted weights; panics with the fetch command when they are missing.
pub fn weights_path() -> PathBuf {
    let path = repo_root().join("data/weights/efficientnet-lite0.safetensors");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-weights.sh first",
        path.display()
    );
    path
}

/// Returns the path of the legacy torch checkpoint that scripts/fetch-weights.sh unpacks.
pub fn checkpoint_path() -> PathBuf {
    let path = repo_root().join("data/weights/efficientnet-lite0-57934424.pth");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-weights.sh first",
        path.display()
    );
    path
}

pub fn load_params() -> Lite0Params {
    Lite0Params::load(&weights_path()).expect("weights load")
}

/// One tensor of the reference fixture: shape and raw little-endian bytes.
pub struct FixtureTensor {
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl FixtureTensor {
    pub fn f32(&self) -> Vec<f32> {
        self.bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    pub fn u32(&self) -> Vec<u32> {
        self.bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }
}

/// Reads a tensor of tests/fixtures/lite0-reference.safetensors (see the
/// README there for how it was produced).
pub fn fixture(name: &str) -> FixtureTensor {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lite0-reference.safetensors");
    let bytes = std::fs::read(&path).expect("fixture file is committed");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("fixture parses");
    let view = file.tensor(name).expect("fixture tensor exists");
    FixtureTensor {
        shape: view.shape().to_vec(),
        bytes: view.data().to_vec(),
    }
}

/// `max |actual - expected| / max |expected|`.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let scale = expected
        .iter()
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()));
    max_abs_diff(actual, expected) / scale
}

pub fn max_abs_diff(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    actual.iter().zip(expected).fold(0.0f64, |m, (&a, &e)| {
        m.max((f64::from(a) - f64::from(e)).abs())
    })
}

/// `[N, C, H, W]` to `[N, H, W, C]`.
pub fn nchw_to_nhwc(values: &[f32], n: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for i in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    out[((i * h + y) * w + x) * c + ch] = values[((i * c + ch) * h + y) * w + x];
                }
            }
        }
    }
    out
}
