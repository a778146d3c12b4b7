//! The EfficientNet-Lite0 forward pass written with candle's own ops
//! (`conv2d` with groups, explicit batch norm), NCHW. It is slow and serves as
//! the oracle for the fast kernels and for batch-norm folding.
//!
//! Input `[N, 3, R, R]` f32 (already preprocessed); output features `[N, 1280]`
//! or logits `[N, 1000]`.

use candle_core::{D, Device, Tensor};

use crate::error::EncoderError;
use crate::lite0::{BATCH_NORM_EPS, BatchNorm, FEATURE_DIM, Lite0Params, Param, same_padding};

/// How the reference applies batch norm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchNormMode {
    /// `(x - mean) / sqrt(var + eps) * gamma + beta` after each convolution.
    Separate,
    /// Folded into the convolution's weights and a bias, as the fast network does.
    Folded,
}

/// The reference network on the CPU.
pub struct ReferenceLite0<'a> {
    params: &'a Lite0Params,
    mode: BatchNormMode,
    device: Device,
}

impl<'a> ReferenceLite0<'a> {
    pub fn new(params: &'a Lite0Params, mode: BatchNormMode) -> ReferenceLite0<'a> {
        ReferenceLite0 {
            params,
            mode,
            device: Device::Cpu,
        }
    }

    /// Features `[N, 1280]` of preprocessed input `[N, 3, R, R]`.
    pub fn features(
        &self,
        input: &[f32],
        count: usize,
        resolution: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        let input = Tensor::from_slice(input, (count, 3, resolution, resolution), &self.device)?;
        let features = self.forward_features(&input)?;
        Ok(features.flatten_all()?.to_vec1::<f32>()?)
    }

    /// ImageNet logits `[N, 1000]` of preprocessed input `[N, 3, R, R]`.
    pub fn logits(
        &self,
        input: &[f32],
        count: usize,
        resolution: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        let input = Tensor::from_slice(input, (count, 3, resolution, resolution), &self.device)?;
        let features = self.forward_features(&input)?;
        let weight = self.tensor(&self.params.fc_weight)?;
        let bias = self.tensor(&self.params.fc_bias)?;
        let logits = features.matmul(&weight.t()?)?.broadcast_add(&bias)?;
        Ok(logits.flatten_all()?.to_vec1::<f32>()?)
    }

    fn forward_features(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        let params = self.params;
        let mut x = self
            .conv_bn(input, &params.conv_stem, &params.bn0, 2, 1)?
            .clamp(0f32, 6f32)?;

        for block in &params.blocks {
            let spec = block.spec;
            let skip = x.clone();
            if let Some((conv, bn)) = &block.expand_conv {
                x = self.conv_bn(&x, conv, bn, 1, 1)?.clamp(0f32, 6f32)?;
            }
            x = self
                .conv_bn(
                    &x,
                    &block.depthwise_conv,
                    &block.bn1,
                    spec.stride,
                    spec.expanded,
                )?
                .clamp(0f32, 6f32)?;
            x = self.conv_bn(&x, &block.project_conv, &block.bn2, 1, 1)?;
            if spec.has_residual() {
                x = (x + skip)?;
            }
        }

        let x = self
            .conv_bn(&x, &params.conv_head, &params.bn1, 1, 1)?
            .clamp(0f32, 6f32)?;
        let features = x.mean(D::Minus1)?.mean(D::Minus1)?;
        debug_assert_eq!(features.dim(1)?, FEATURE_DIM);
        Ok(features)
    }

    /// "SAME"-padded convolution followed by batch norm, folded or not.
    fn conv_bn(
        &self,
        x: &Tensor,
        conv: &Param,
        bn: &BatchNorm,
        stride: usize,
        groups: usize,
    ) -> candle_core::Result<Tensor> {
        let (_, _, height, width) = x.dims4()?;
        let kernel = conv.shape[2];
        let (top, bottom) = same_padding(height, kernel, stride);
        let (left, right) = same_padding(width, kernel, stride);
        let x = x
            .pad_with_zeros(2, top, bottom)?
            .pad_with_zeros(3, left, right)?;
        let channels = bn.weight.len();

        match self.mode {
            BatchNormMode::Separate => {
                let y = x.conv2d(&self.tensor(conv)?, 0, stride, 1, groups)?;
                let shape = (1, channels, 1, 1);
                let mean = Tensor::from_slice(&bn.running_mean, shape, &self.device)?;
                let var = Tensor::from_slice(&bn.running_var, shape, &self.device)?;
                let gamma = Tensor::from_slice(&bn.weight, shape, &self.device)?;
                let beta = Tensor::from_slice(&bn.bias, shape, &self.device)?;
                let std = (var + f64::from(BATCH_NORM_EPS))?.sqrt()?;
                y.broadcast_sub(&mean)?
                    .broadcast_div(&std)?
                    .broadcast_mul(&gamma)?
                    .broadcast_add(&beta)
            }
            BatchNormMode::Folded => {
                let (scale, shift) = bn.scale_shift();
                let per_channel = conv.values.len() / channels;
                let weight: Vec<f32> = conv
                    .values
                    .chunks_exact(per_channel)
                    .zip(&scale)
                    .flat_map(|(row, &s)| row.iter().map(move |w| w * s))
                    .collect();
                let weight = Tensor::from_vec(weight, conv.shape.as_slice(), &self.device)?;
                let bias = Tensor::from_vec(shift, (1, channels, 1, 1), &self.device)?;
                x.conv2d(&weight, 0, stride, 1, groups)?
                    .broadcast_add(&bias)
            }
        }
    }

    fn tensor(&self, param: &Param) -> candle_core::Result<Tensor> {
        Tensor::from_slice(&param.values, param.shape.as_slice(), &self.device)
    }
}
