//! Typed reads of the upstream tensors that several stage bodies share: the
//! prepare labels and splits, and the embed features.

use cwerm_config::Stage;

use crate::context::StageContext;
use crate::error::StageError;

/// The prepare object's labels `[N]`, splits `[N]` and class count K.
pub struct PreparedLabels {
    pub labels: Vec<u32>,
    pub clean_labels: Vec<u32>,
    pub split: Vec<u8>,
    pub num_classes: usize,
}

impl PreparedLabels {
    /// Reads `labels`, `clean_labels` and `split`, and K from the prepare
    /// object's provenance summary.
    pub fn read(context: &StageContext<'_>) -> Result<PreparedLabels, StageError> {
        let object = context.object(Stage::Prepare)?;
        let labels = object.tensor("labels")?.to_u32()?;
        let clean_labels = object.tensor("clean_labels")?.to_u32()?;
        let split = object.tensor("split")?.as_u8()?.to_vec();
        let num_classes = object.provenance()?.summary["num_classes"]
            .as_u64()
            .ok_or_else(|| {
                context.invalid_input("prepare summary has no `num_classes`; rebuild it")
            })? as usize;

        if clean_labels.len() != labels.len() || split.len() != labels.len() {
            return Err(context.invalid_input(format!(
                "prepare tensors disagree in length: labels {}, clean_labels {}, split {}",
                labels.len(),
                clean_labels.len(),
                split.len()
            )));
        }
        Ok(PreparedLabels {
            labels,
            clean_labels,
            split,
            num_classes,
        })
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Rows whose split is `code`, ascending.
    pub fn rows_of_split(&self, code: u8) -> Vec<u32> {
        (0..self.split.len() as u32)
            .filter(|&row| self.split[row as usize] == code)
            .collect()
    }
}

/// The embed object's `features` f32 `[N, D]`, checked against N prepare rows.
pub struct Features {
    pub values: Vec<f32>,
    pub dim: usize,
}

impl Features {
    /// Decodes the tensor straight from the object's bytes, so the 358 MB
    /// matrix of full Fashion-MNIST is not copied twice.
    pub fn read(context: &StageContext<'_>, rows: usize) -> Result<Features, StageError> {
        let object = context.object(Stage::Embed)?;
        let (dtype, shape) = object
            .safetensors()?
            .tensor("features")
            .map(|view| (view.dtype(), view.shape().to_vec()))
            .map_err(|error| {
                context.invalid_input(format!(
                    "embed object has no readable `features` tensor: {error}"
                ))
            })?;
        if dtype != safetensors::Dtype::F32 {
            return Err(context.invalid_input(format!(
                "embed tensor `features` is {dtype:?}, expected F32; rebuild embed"
            )));
        }
        let [feature_rows, dim] = shape[..] else {
            return Err(context.invalid_input(format!(
                "embed tensor `features` has shape {shape:?}, expected [N, D]"
            )));
        };
        if feature_rows != rows {
            return Err(context.invalid_input(format!(
                "embed `features` has {feature_rows} rows, prepare has {rows}; rebuild embed"
            )));
        }

        let values = object
            .tensor_bytes("features")?
            .chunks_exact(4)
            .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            .collect();
        Ok(Features { values, dim })
    }
}
