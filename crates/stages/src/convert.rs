//! Conversions between store tensors (little-endian bytes) and candle
//! tensors on the CPU, for the stages that run candle learners.

use std::collections::HashMap;

use cwerm_config::Stage;
use cwerm_store::{Object, Tensor};

use crate::error::StageError;

/// Converts an f32 candle tensor into a store tensor named `name`.
pub fn to_store(
    stage: Stage,
    name: &str,
    tensor: &candle_core::Tensor,
) -> Result<Tensor, StageError> {
    let values = tensor
        .flatten_all()
        .and_then(|flat| flat.to_vec1::<f32>())
        .map_err(|error| StageError::algorithm(stage, error))?;
    Ok(Tensor::from_f32(name, tensor.dims().to_vec(), &values)?)
}

/// Converts f32 values `[rows, cols]` into a candle tensor.
pub fn to_candle(
    stage: Stage,
    values: Vec<f32>,
    shape: &[usize],
) -> Result<candle_core::Tensor, StageError> {
    candle_core::Tensor::from_vec(values, shape, &candle_core::Device::Cpu)
        .map_err(|error| StageError::algorithm(stage, error))
}

/// Reads every f32 tensor of `object` whose name starts with `prefix` into a
/// name-to-tensor map, as the learner and meta-net loaders expect.
pub fn named_candle_tensors(
    stage: Stage,
    object: &Object,
    prefix: &str,
) -> Result<HashMap<String, candle_core::Tensor>, StageError> {
    let mut named = HashMap::new();
    for name in object.tensor_names()? {
        if !name.starts_with(prefix) {
            continue;
        }
        let tensor = object.tensor(&name)?;
        let candle = to_candle(stage, tensor.to_f32()?, &tensor.shape)?;
        named.insert(name, candle);
    }
    Ok(named)
}
