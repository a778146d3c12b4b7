//! The fast EfficientNet-Lite0 forward pass: batch norm folded into each
//! convolution at load time, channels-last activations, and the kernels of
//! [`crate::kernels`]. Images of a batch run in parallel on the rayon pool,
//! one image per task, so each image's features are independent of its batch.
//!
//! Input: preprocessed images `[N, R, R, 3]` f32; output: features `[N, 1280]`.

use rayon::prelude::*;

use crate::kernels::{
    self, Activation, ConvShape, DepthwiseShape, add_assign, bias_activation, global_average_pool,
};
use crate::lite0::{BatchNorm, BlockSpec, CLASSES, FEATURE_DIM, Lite0Params, Param, same_output};

/// A 1x1 convolution with folded batch norm: `weight [c_in, c_out]`, `bias [c_out]`.
#[derive(Clone, Debug)]
struct Pointwise {
    weight: Vec<f32>,
    bias: Vec<f32>,
    c_in: usize,
}

impl Pointwise {
    /// Folds `bn` into `conv` (`[c_out, c_in, 1, 1]`) and transposes it to `[c_in, c_out]`.
    fn fold(conv: &Param, bn: &BatchNorm) -> Pointwise {
        let (c_out, c_in) = (conv.shape[0], conv.shape[1]);
        let (scale, shift) = bn.scale_shift();
        let mut weight = vec![0.0f32; c_in * c_out];
        for o in 0..c_out {
            for i in 0..c_in {
                weight[i * c_out + o] = conv.values[o * c_in + i] * scale[o];
            }
        }
        Pointwise {
            weight,
            bias: shift,
            c_in,
        }
    }

    fn c_out(&self) -> usize {
        self.bias.len()
    }
}

/// A depthwise convolution with folded batch norm: `weight [k, k, C]`, `bias [C]`.
#[derive(Clone, Debug)]
struct Depthwise {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Depthwise {
    /// Folds `bn` into `conv` (`[C, 1, k, k]`) and reorders it to `[k, k, C]`.
    fn fold(conv: &Param, bn: &BatchNorm) -> Depthwise {
        let (channels, kernel) = (conv.shape[0], conv.shape[2]);
        let (scale, shift) = bn.scale_shift();
        let taps = kernel * kernel;
        let mut weight = vec![0.0f32; taps * channels];
        for c in 0..channels {
            for tap in 0..taps {
                weight[tap * channels + c] = conv.values[c * taps + tap] * scale[c];
            }
        }
        Depthwise {
            weight,
            bias: shift,
        }
    }
}

/// The stem: a dense 3x3 stride-2 convolution with folded batch norm,
/// `weight [3, 3, 3, 32]` for im2col.
#[derive(Clone, Debug)]
struct Stem {
    weight: Vec<f32>,
    bias: Vec<f32>,
    kernel: usize,
    c_in: usize,
}

impl Stem {
    fn fold(conv: &Param, bn: &BatchNorm) -> Stem {
        let (c_out, c_in, kernel) = (conv.shape[0], conv.shape[1], conv.shape[2]);
        let (scale, shift) = bn.scale_shift();
        let mut weight = vec![0.0f32; kernel * kernel * c_in * c_out];
        for (o, &channel_scale) in scale.iter().enumerate() {
            for i in 0..c_in {
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        let source = ((o * c_in + i) * kernel + ky) * kernel + kx;
                        let target = (((ky * kernel + kx) * c_in + i) * c_out) + o;
                        weight[target] = conv.values[source] * channel_scale;
                    }
                }
            }
        }
        Stem {
            weight,
            bias: shift,
            kernel,
            c_in,
        }
    }
}

#[derive(Clone, Debug)]
struct Block {
    spec: BlockSpec,
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
}

/// Reusable activation buffers of one worker.
#[derive(Default)]
struct Workspace {
    current: Vec<f32>,
    expanded: Vec<f32>,
    filtered: Vec<f32>,
    projected: Vec<f32>,
}

fn sized(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buffer.resize(len, 0.0);
    &mut buffer[..len]
}

/// EfficientNet-Lite0 with batch norm folded, ready for fast inference.
#[derive(Clone, Debug)]
pub struct FastLite0 {
    stem: Stem,
    blocks: Vec<Block>,
    head: Pointwise,
    /// `_fc.weight` transposed to `[1280, 1000]`.
    fc_weight: Vec<f32>,
    fc_bias: Vec<f32>,
}

impl FastLite0 {
    /// Folds every batch norm into its convolution and reorders the weights.
    pub fn new(params: &Lite0Params) -> FastLite0 {
        let blocks = params
            .blocks
            .iter()
            .map(|block| Block {
                spec: block.spec,
                expand: block
                    .expand_conv
                    .as_ref()
                    .map(|(conv, bn)| Pointwise::fold(conv, bn)),
                depthwise: Depthwise::fold(&block.depthwise_conv, &block.bn1),
                project: Pointwise::fold(&block.project_conv, &block.bn2),
            })
            .collect();
        let mut fc_weight = vec![0.0f32; FEATURE_DIM * CLASSES];
        for class in 0..CLASSES {
            for feature in 0..FEATURE_DIM {
                fc_weight[feature * CLASSES + class] =
                    params.fc_weight.values[class * FEATURE_DIM + feature];
            }
        }
        FastLite0 {
            stem: Stem::fold(&params.conv_stem, &params.bn0),
            blocks,
            head: Pointwise::fold(&params.conv_head, &params.bn1),
            fc_weight,
            fc_bias: params.fc_bias.values.clone(),
        }
    }

    /// Features `[N, 1280]` of preprocessed images `[N, R, R, 3]`, images in parallel.
    pub fn features(&self, input: &[f32], resolution: usize) -> Vec<f32> {
        let image_len = resolution * resolution * 3;
        assert_eq!(
            input.len() % image_len,
            0,
            "input is not a whole number of images"
        );
        let count = input.len() / image_len;
        let mut features = vec![0.0f32; count * FEATURE_DIM];
        features
            .par_chunks_exact_mut(FEATURE_DIM)
            .zip(input.par_chunks_exact(image_len))
            .for_each_init(Workspace::default, |workspace, (out, image)| {
                self.image_features(image, resolution, workspace, out)
            });
        features
    }

    /// ImageNet logits `[N, 1000]` of features `[N, 1280]`.
    pub fn logits(&self, features: &[f32]) -> Vec<f32> {
        let count = features.len() / FEATURE_DIM;
        let mut logits = vec![0.0f32; count * CLASSES];
        kernels::matmul(
            features,
            &self.fc_weight,
            count,
            FEATURE_DIM,
            CLASSES,
            &mut logits,
        );
        bias_activation(&mut logits, &self.fc_bias, Activation::None);
        logits
    }

    /// Runs one image `[R, R, 3]` through the network into `out [1280]`.
    fn image_features(
        &self,
        image: &[f32],
        resolution: usize,
        workspace: &mut Workspace,
        out: &mut [f32],
    ) {
        let stem_shape = ConvShape {
            height: resolution,
            width: resolution,
            c_in: self.stem.c_in,
            kernel: self.stem.kernel,
            stride: 2,
        };
        let columns = sized(
            &mut workspace.filtered,
            stem_shape.output_pixels() * stem_shape.patch_len(),
        );
        kernels::im2col(image, stem_shape, columns);
        let stem_channels = self.stem.bias.len();
        let current = sized(
            &mut workspace.current,
            stem_shape.output_pixels() * stem_channels,
        );
        kernels::pointwise(
            columns,
            &self.stem.weight,
            &self.stem.bias,
            stem_shape.patch_len(),
            Activation::Relu6,
            current,
        );

        let mut side = same_output(resolution, 2);
        for block in &self.blocks {
            side = self.run_block(block, side, workspace);
        }

        let pixels = side * side;
        let head = sized(&mut workspace.expanded, pixels * self.head.c_out());
        kernels::pointwise(
            &workspace.current[..pixels * self.head.c_in],
            &self.head.weight,
            &self.head.bias,
            self.head.c_in,
            Activation::Relu6,
            head,
        );
        global_average_pool(head, self.head.c_out(), out);
    }

    /// Runs one MBConv block on `workspace.current` (`[side, side, C_in]`),
    /// leaves the result there and returns the new side.
    fn run_block(&self, block: &Block, side: usize, workspace: &mut Workspace) -> usize {
        let spec = block.spec;
        let pixels = side * side;
        let Workspace {
            current,
            expanded,
            filtered,
            projected,
        } = workspace;
        let input = &current[..pixels * spec.input];

        let expanded_input: &[f32] = match &block.expand {
            Some(expand) => {
                let target = sized(expanded, pixels * spec.expanded);
                kernels::pointwise(
                    input,
                    &expand.weight,
                    &expand.bias,
                    spec.input,
                    Activation::Relu6,
                    target,
                );
                target
            }
            None => input,
        };

        let shape = DepthwiseShape {
            height: side,
            width: side,
            channels: spec.expanded,
            kernel: spec.kernel,
            stride: spec.stride,
        };
        let out_side = shape.output_height();
        let out_pixels = out_side * out_side;
        let filtered = sized(filtered, out_pixels * spec.expanded);
        kernels::depthwise_relu6(
            expanded_input,
            &block.depthwise.weight,
            &block.depthwise.bias,
            shape,
            filtered,
        );

        let projected_len = out_pixels * spec.output;
        let target = sized(projected, projected_len);
        kernels::pointwise(
            filtered,
            &block.project.weight,
            &block.project.bias,
            spec.expanded,
            Activation::None,
            target,
        );
        if spec.has_residual() {
            add_assign(target, input);
        }

        std::mem::swap(current, projected);
        out_side
    }
}
