//! The inputs and the output of a stage body.
//!
//! A body is one function per stage, `fn run(&StageContext) -> Result<StageOutput, StageError>`,
//! in `prepare.rs`, `embed.rs`, `select.rs`, `reweight.rs` and `train.rs`. It
//! reads the pipeline and the verified upstream objects from the context and
//! returns owned tensors plus a JSON summary. The framework then writes the
//! object, its provenance and the stage record, so a body never opens the
//! store itself.

use std::collections::BTreeMap;
use std::path::Path;

use cwerm_config::{Pipeline, Stage};
use cwerm_store::{Object, Tensor};
use serde_json::Value;

use crate::error::StageError;
use crate::inputs::SourceFile;

/// Everything a stage body may read.
pub struct StageContext<'a> {
    /// The stage being run.
    pub stage: Stage,
    /// The parsed, validated pipeline.
    pub pipeline: &'a Pipeline,
    /// The pipeline file, for error messages.
    pub pipeline_path: &'a Path,
    /// The pipeline seed when the stage draws random numbers
    /// ([`Stage::uses_seed`]); `None` otherwise, and then it is not in the key.
    pub seed: Option<u64>,
    /// The hashed source files (prepare only; empty for the other stages).
    pub sources: &'a [SourceFile],
    upstream: &'a BTreeMap<Stage, Object>,
}

/// The output of a stage body: the tensors of its object and a summary that
/// goes into the object's provenance (and, for train, into the metrics file).
#[derive(Clone, Debug, PartialEq)]
pub struct StageOutput {
    pub tensors: Vec<Tensor>,
    /// A JSON object of stage-specific figures, e.g. the realised noise rate.
    pub summary: Value,
}

impl<'a> StageContext<'a> {
    pub(crate) fn new(
        stage: Stage,
        pipeline: &'a Pipeline,
        pipeline_path: &'a Path,
        seed: Option<u64>,
        sources: &'a [SourceFile],
        upstream: &'a BTreeMap<Stage, Object>,
    ) -> StageContext<'a> {
        StageContext {
            stage,
            pipeline,
            pipeline_path,
            seed,
            sources,
            upstream,
        }
    }

    /// Returns the verified object of an upstream stage.
    pub fn object(&self, stage: Stage) -> Result<&'a Object, StageError> {
        self.upstream
            .get(&stage)
            .ok_or_else(|| StageError::InvalidInput {
                stage: self.stage,
                message: format!(
                    "reads the {stage} object, which is not upstream of {}",
                    self.stage
                ),
            })
    }

    /// Copies one tensor of an upstream stage's object.
    pub fn tensor(&self, stage: Stage, name: &str) -> Result<Tensor, StageError> {
        Ok(self.object(stage)?.tensor(name)?)
    }

    /// Borrows the raw little-endian bytes of one upstream tensor.
    pub fn tensor_bytes(&self, stage: Stage, name: &str) -> Result<&'a [u8], StageError> {
        Ok(self.object(stage)?.tensor_bytes(name)?)
    }

    /// Builds an error about upstream data that this stage cannot use.
    pub fn invalid_input(&self, message: impl Into<String>) -> StageError {
        StageError::InvalidInput {
            stage: self.stage,
            message: message.into(),
        }
    }
}
