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
    pub fn read(context: &StageContext<'_>, rows: usize) -> Result<Features, StageError> {
        let tensor = context.tensor(Stage::Embed, "features")?;
        let [feature_rows, dim] = tensor.shape[..] else {
            return Err(context.invalid_input(format!(
                "embed tensor `features` has shape {:?}, expected [N, D]",
                tensor.shape
            )));
        };
        if feature_rows != rows {
            return Err(context.invalid_input(format!(
                "embed `features` has {feature_rows} rows, prepare has {rows}; rebuild embed"
            )));
        }
        Ok(Features {
            values: tensor.to_f32()?,
            dim,
        })
    }
}
