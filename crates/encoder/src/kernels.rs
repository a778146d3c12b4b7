//! Single-image CPU kernels on channels-last f32 slices, used by the fast
//! EfficientNet-Lite0 forward pass: a pointwise (1x1) convolution as one gemm,
//! a depthwise convolution with "SAME" padding, a dense k x k convolution through
//! im2col + gemm (the stem), and global average pooling.
//!
//! Layouts: activations `[H, W, C]`; pointwise weights `[C_in, C_out]`; depthwise
//! weights `[k, k, C]`; im2col weights `[k, k, C_in, C_out]`. Every kernel works
//! on one image and runs single-threaded with a fixed summation order, so an
//! image's result does not depend on which other images are processed alongside.

use crate::lite0::same_padding;

/// Elementwise function applied after the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

/// The ISA level picked at run time for the hand-written loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// `out[p, :] = act(input[p, :] · weight + bias)` for every pixel `p`:
/// `input [pixels, c_in]`, `weight [c_in, c_out]`, `bias [c_out]`, `out [pixels, c_out]`.
pub fn pointwise(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    c_in: usize,
    activation: Activation,
    out: &mut [f32],
) {
    let pixels = input.len() / c_in;
    matmul(input, weight, pixels, c_in, bias.len(), out);
    bias_activation(out, bias, activation);
}

/// `out [m, n] = a [m, k] · b [k, n]`, all row-major, on the calling thread.
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, out: &mut [f32]) {
    assert_eq!(a.len(), m * k, "lhs length");
    assert_eq!(b.len(), k * n, "rhs length");
    assert_eq!(out.len(), m * n, "output length");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above make every index that gemm touches, for the
    // given row strides and unit column strides, fall inside the three slices;
    // `out` is a unique borrow, so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Adds `bias` to every row of `values` (`[rows, bias.len()]`) and applies `activation`.
pub fn bias_activation(values: &mut [f32], bias: &[f32], activation: Activation) {
    for row in values.chunks_exact_mut(bias.len()) {
        for (value, &b) in row.iter_mut().zip(bias) {
            let shifted = *value + b;
            *value = match activation {
                Activation::None => shifted,
                Activation::Relu6 => shifted.clamp(0.0, 6.0),
            };
        }
    }
}

/// Geometry of a depthwise convolution over one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl DepthwiseShape {
    pub fn output_height(&self) -> usize {
        self.height.div_ceil(self.stride)
    }

    pub fn output_width(&self) -> usize {
        self.width.div_ceil(self.stride)
    }
}

/// Depthwise "SAME" convolution plus bias and ReLU6:
/// `input [H, W, C]`, `weight [k, k, C]`, `bias [C]`, `out [ceil(H/s), ceil(W/s), C]`.
pub fn depthwise_relu6(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: DepthwiseShape,
    out: &mut [f32],
) {
    let DepthwiseShape {
        height,
        width,
        channels,
        kernel,
        ..
    } = shape;
    assert_eq!(input.len(), height * width * channels, "input length");
    assert_eq!(weight.len(), kernel * kernel * channels, "weight length");
    assert_eq!(bias.len(), channels, "bias length");
    assert_eq!(
        out.len(),
        shape.output_height() * shape.output_width() * channels,
        "output length"
    );
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 support was detected at run time.
        Isa::Avx2 => unsafe { depthwise_avx2(input, weight, bias, shape, out) },
        Isa::Baseline => depthwise_generic(input, weight, bias, shape, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn depthwise_avx2(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: DepthwiseShape,
    out: &mut [f32],
) {
    depthwise_generic(input, weight, bias, shape, out)
}

#[inline(always)]
fn depthwise_generic(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: DepthwiseShape,
    out: &mut [f32],
) {
    let DepthwiseShape {
        height,
        width,
        channels,
        kernel,
        stride,
    } = shape;
    let (pad_top, _) = same_padding(height, kernel, stride);
    let (pad_left, _) = same_padding(width, kernel, stride);
    let out_width = shape.output_width();

    for (oy, out_row) in out.chunks_exact_mut(out_width * channels).enumerate() {
        // Kernel rows whose input row lies inside the image.
        let top = (oy * stride) as isize - pad_top as isize;
        let ky_start = (-top).max(0) as usize;
        let ky_end = kernel.min((height as isize - top).max(0) as usize);

        for (ox, acc) in out_row.chunks_exact_mut(channels).enumerate() {
            let left = (ox * stride) as isize - pad_left as isize;
            let kx_start = (-left).max(0) as usize;
            let kx_end = kernel.min((width as isize - left).max(0) as usize);

            acc.copy_from_slice(bias);
            for ky in ky_start..ky_end {
                let iy = (top + ky as isize) as usize;
                for kx in kx_start..kx_end {
                    let ix = (left + kx as isize) as usize;
                    let pixel = &input[(iy * width + ix) * channels..][..channels];
                    let taps = &weight[(ky * kernel + kx) * channels..][..channels];
                    for ((a, &x), &w) in acc.iter_mut().zip(pixel).zip(taps) {
                        *a += x * w;
                    }
                }
            }
            for a in acc.iter_mut() {
                *a = a.clamp(0.0, 6.0);
            }
        }
    }
}

/// Geometry of a dense "SAME" convolution over one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub height: usize,
    pub width: usize,
    pub c_in: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl ConvShape {
    pub fn output_pixels(&self) -> usize {
        self.height.div_ceil(self.stride) * self.width.div_ceil(self.stride)
    }

    /// Columns of the im2col matrix: `k * k * c_in`.
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.c_in
    }
}

/// Writes the im2col matrix `[output pixels, k * k * c_in]` of a "SAME"
/// convolution, with zeros where a patch reaches past the image.
pub fn im2col(input: &[f32], shape: ConvShape, columns: &mut [f32]) {
    let ConvShape {
        height,
        width,
        c_in,
        kernel,
        stride,
    } = shape;
    assert_eq!(input.len(), height * width * c_in, "input length");
    assert_eq!(
        columns.len(),
        shape.output_pixels() * shape.patch_len(),
        "im2col length"
    );
    let (pad_top, _) = same_padding(height, kernel, stride);
    let (pad_left, _) = same_padding(width, kernel, stride);
    let out_width = width.div_ceil(stride);

    for (index, patch) in columns.chunks_exact_mut(shape.patch_len()).enumerate() {
        let (oy, ox) = (index / out_width, index % out_width);
        for ky in 0..kernel {
            let iy = (oy * stride + ky) as isize - pad_top as isize;
            for kx in 0..kernel {
                let ix = (ox * stride + kx) as isize - pad_left as isize;
                let target = &mut patch[(ky * kernel + kx) * c_in..][..c_in];
                if iy < 0 || ix < 0 || iy >= height as isize || ix >= width as isize {
                    target.fill(0.0);
                } else {
                    let start = (iy as usize * width + ix as usize) * c_in;
                    target.copy_from_slice(&input[start..start + c_in]);
                }
            }
        }
    }
}

/// Adds `source` to `target` elementwise (the residual connection).
pub fn add_assign(target: &mut [f32], source: &[f32]) {
    assert_eq!(target.len(), source.len(), "residual length");
    for (t, &s) in target.iter_mut().zip(source) {
        *t += s;
    }
}

/// Mean over pixels of `input [pixels, channels]` into `out [channels]`,
/// summed in pixel order in f64.
pub fn global_average_pool(input: &[f32], channels: usize, out: &mut [f32]) {
    assert_eq!(out.len(), channels, "output length");
    let pixels = input.len() / channels;
    let mut sums = vec![0.0f64; channels];
    for row in input.chunks_exact(channels) {
        for (sum, &value) in sums.iter_mut().zip(row) {
            *sum += f64::from(value);
        }
    }
    for (o, sum) in out.iter_mut().zip(sums) {
        *o = (sum / pixels as f64) as f32;
    }
}
