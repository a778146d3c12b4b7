//! Reading what a compared run produced back out of the store: the labels of
//! the prepare object, the final training weights of the train object, and
//! the learned meta-net of the reweight object.
//!
//! Tensors read:
//! - prepare: `labels`, `clean_labels` u32 [N]; `split` u8 [N] (0 train,
//!   1 meta, 2 test).
//! - train: `indices` u32 [T] (prepare rows trained on), `weights` f32 [T].
//! - reweight: `meta_net.{i}.weight` [out, in] and `meta_net.{i}.bias` [out]
//!   (absent when the reweight method is `uniform`), and `losses` f32 [M'],
//!   the per-example coreset losses.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::Device;
use cwerm_learners::MetaNet;
use cwerm_store::{Digest, Object, Store};

use super::CompareError;

/// Prefix of the meta-net parameter names in a reweight object.
const META_NET_PREFIX: &str = "meta_net.";

/// Loss range of the weight curves when no reweight object records its
/// coreset losses.
pub const DEFAULT_MAX_LOSS: f64 = 5.0;

/// Observed and clean labels and the split of every prepare row.
pub struct PreparedLabels {
    pub labels: Vec<u32>,
    pub clean_labels: Vec<u32>,
    pub split: Vec<u8>,
}

impl PreparedLabels {
    /// Reads the labels and split of the prepare object `object`.
    pub fn read(store: &Store, object: &Digest) -> Result<PreparedLabels, CompareError> {
        let object = store.read_object(object)?;
        let labels = object.tensor("labels")?.to_u32()?;
        let clean_labels = object.tensor("clean_labels")?.to_u32()?;
        let split = object.tensor("split")?.as_u8()?.to_vec();
        if clean_labels.len() != labels.len() || split.len() != labels.len() {
            return Err(invalid(
                &object,
                format!(
                    "`labels`, `clean_labels` and `split` have {}, {} and {} rows, expected equal counts",
                    labels.len(),
                    clean_labels.len(),
                    split.len()
                ),
            ));
        }
        Ok(PreparedLabels {
            labels,
            clean_labels,
            split,
        })
    }

    /// Number of rows in the training split (split 0).
    pub fn train_rows(&self) -> usize {
        self.split.iter().filter(|&&split| split == 0).count()
    }
}

/// Final training weights of one train object, split by whether the row's
/// observed label equals its clean label.
pub struct TrainingWeights {
    pub clean: Vec<f32>,
    pub flipped: Vec<f32>,
}

impl TrainingWeights {
    /// Reads `indices` and `weights` of the train object `object`.
    pub fn read(
        store: &Store,
        object: &Digest,
        prepared: &PreparedLabels,
    ) -> Result<TrainingWeights, CompareError> {
        let object = store.read_object(object)?;
        let indices = object.tensor("indices")?.to_u32()?;
        let weights = object.tensor("weights")?.to_f32()?;
        if indices.len() != weights.len() {
            return Err(invalid(
                &object,
                format!(
                    "{} `indices` and {} `weights`, expected equal counts",
                    indices.len(),
                    weights.len()
                ),
            ));
        }

        let mut clean = Vec::new();
        let mut flipped = Vec::new();
        for (&row, &weight) in indices.iter().zip(&weights) {
            let row = row as usize;
            let (Some(label), Some(clean_label)) =
                (prepared.labels.get(row), prepared.clean_labels.get(row))
            else {
                return Err(invalid(
                    &object,
                    format!(
                        "index {row} is out of range for {} prepare rows",
                        prepared.labels.len()
                    ),
                ));
            };
            if label == clean_label {
                clean.push(weight);
            } else {
                flipped.push(weight);
            }
        }
        Ok(TrainingWeights { clean, flipped })
    }

    /// Returns whether every weight is exactly 1, as uniform weighting gives.
    pub fn all_ones(&self) -> bool {
        self.clean
            .iter()
            .chain(&self.flipped)
            .all(|&weight| weight == 1.0)
    }
}

/// A learned meta-net and the largest per-example coreset loss it saw.
pub struct LearnedMetaNet {
    pub net: MetaNet,
    /// `None` when the reweight object has no finite `losses`.
    pub max_loss: Option<f64>,
}

impl LearnedMetaNet {
    /// Rebuilds the meta-net of the reweight object `object`; `None` when the
    /// object contains no meta-net parameters.
    pub fn read(store: &Store, object: &Digest) -> Result<Option<LearnedMetaNet>, CompareError> {
        let object = store.read_object(object)?;
        let names = object.tensor_names()?;
        let mut named = HashMap::new();
        for name in names
            .iter()
            .filter(|name| name.starts_with(META_NET_PREFIX))
        {
            named.insert(name.clone(), candle_tensor(&object, name)?);
        }
        if named.is_empty() {
            return Ok(None);
        }
        let net = MetaNet::from_named(&named).map_err(|error| CompareError::MetaNet {
            path: object.path().to_path_buf(),
            message: error.to_string(),
        })?;

        let max_loss = if names.iter().any(|name| name == "losses") {
            object
                .tensor("losses")?
                .to_f32()?
                .into_iter()
                .filter(|loss| loss.is_finite())
                .map(f64::from)
                .reduce(f64::max)
        } else {
            None
        };
        Ok(Some(LearnedMetaNet { net, max_loss }))
    }

    /// Samples `V(loss)` at `count` evenly spaced losses on `[0, max_loss]`.
    pub fn curve(
        &self,
        max_loss: f64,
        count: usize,
        path: &std::path::Path,
    ) -> Result<Vec<(f64, f64)>, CompareError> {
        let step = max_loss / (count.max(2) - 1) as f64;
        let losses: Vec<f32> = (0..count).map(|i| (i as f64 * step) as f32).collect();
        let meta_net_error = |message: String| CompareError::MetaNet {
            path: path.to_path_buf(),
            message,
        };
        let input = candle_core::Tensor::from_vec(losses.clone(), count, &Device::Cpu)
            .map_err(|error| meta_net_error(error.to_string()))?;
        let weights = self
            .net
            .weights(&input)
            .and_then(|weights| Ok(weights.to_vec1::<f32>()?))
            .map_err(|error| meta_net_error(error.to_string()))?;
        Ok(losses
            .into_iter()
            .zip(weights)
            .map(|(loss, weight)| (f64::from(loss), f64::from(weight)))
            .collect())
    }
}

/// Copies one f32 store tensor into a candle tensor on the CPU.
fn candle_tensor(object: &Object, name: &str) -> Result<candle_core::Tensor, CompareError> {
    let tensor = object.tensor(name)?;
    let values = tensor.to_f32().map_err(|_| {
        invalid(
            object,
            format!(
                "tensor `{name}` has dtype {}, expected F32",
                tensor.dtype.name()
            ),
        )
    })?;
    candle_core::Tensor::from_vec(values, tensor.shape.clone(), &Device::Cpu).map_err(|error| {
        CompareError::MetaNet {
            path: object.path().to_path_buf(),
            message: format!("tensor `{name}`: {error}"),
        }
    })
}

fn invalid(object: &Object, message: String) -> CompareError {
    CompareError::InvalidObject {
        path: PathBuf::from(object.path()),
        message,
    }
}
