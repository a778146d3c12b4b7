//! The fast kernels against candle's reference ops (`conv2d` with groups, mean)
//! on random seeded inputs, and batch-norm folding against separate batch norm.
//! Tolerance: `max |fast - candle| / max |candle|` below 1e-4.

mod common;

use candle_core::{Device, Tensor};
use common::{fixture, load_params, nchw_to_nhwc, relative_error};
use cwerm_encoder::fast::FastLite0;
use cwerm_encoder::kernels::{
    self, Activation, ConvShape, DepthwiseShape, depthwise_relu6, global_average_pool, im2col,
};
use cwerm_encoder::lite0::same_padding;
use cwerm_encoder::reference::{BatchNormMode, ReferenceLite0};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOLERANCE: f64 = 1e-4;

fn random(rng: &mut ChaCha8Rng, len: usize, range: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-range..range)).collect()
}

/// candle "SAME" conv of an NHWC image with an `[out, in/groups, k, k]` weight,
/// plus bias; returns NHWC.
fn candle_conv(
    input_hwc: &[f32],
    (height, width, c_in): (usize, usize, usize),
    weight_oihw: &[f32],
    weight_shape: (usize, usize, usize, usize),
    bias: &[f32],
    stride: usize,
    groups: usize,
) -> Vec<f32> {
    let device = Device::Cpu;
    let x = Tensor::from_slice(input_hwc, (1, height, width, c_in), &device)
        .unwrap()
        .permute((0, 3, 1, 2))
        .unwrap();
    let kernel = weight_shape.2;
    let (top, bottom) = same_padding(height, kernel, stride);
    let (left, right) = same_padding(width, kernel, stride);
    let x = x
        .pad_with_zeros(2, top, bottom)
        .unwrap()
        .pad_with_zeros(3, left, right)
        .unwrap();
    let w = Tensor::from_slice(weight_oihw, weight_shape, &device).unwrap();
    let b = Tensor::from_slice(bias, (1, bias.len(), 1, 1), &device).unwrap();
    let y = x
        .conv2d(&w, 0, stride, 1, groups)
        .unwrap()
        .broadcast_add(&b)
        .unwrap();
    y.permute((0, 2, 3, 1))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn depthwise_matches_candle_grouped_conv() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (height, width, channels, kernel, stride) in [
        (7, 7, 16, 5, 2),
        (12, 12, 24, 3, 1),
        (10, 9, 8, 5, 2),
        (6, 6, 40, 5, 1),
        (3, 3, 4, 3, 2),
    ] {
        let input = random(&mut rng, height * width * channels, 2.0);
        let weight_chkk = random(&mut rng, channels * kernel * kernel, 1.0);
        let bias = random(&mut rng, channels, 1.0);

        let expected: Vec<f32> = candle_conv(
            &input,
            (height, width, channels),
            &weight_chkk,
            (channels, 1, kernel, kernel),
            &bias,
            stride,
            channels,
        )
        .into_iter()
        .map(|v| v.clamp(0.0, 6.0))
        .collect();

        let mut weight_kkc = vec![0.0; weight_chkk.len()];
        for c in 0..channels {
            for tap in 0..kernel * kernel {
                weight_kkc[tap * channels + c] = weight_chkk[c * kernel * kernel + tap];
            }
        }
        let shape = DepthwiseShape {
            height,
            width,
            channels,
            kernel,
            stride,
        };
        let mut out = vec![0.0; shape.output_height() * shape.output_width() * channels];
        depthwise_relu6(&input, &weight_kkc, &bias, shape, &mut out);

        let error = relative_error(&out, &expected);
        assert!(error < TOLERANCE, "{shape:?}: relative error {error:e}");
    }
}

#[test]
fn pointwise_matches_candle_1x1_conv() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (side, c_in, c_out) in [(5, 16, 96), (12, 40, 240), (3, 320, 1280), (1, 7, 3)] {
        let input = random(&mut rng, side * side * c_in, 2.0);
        let weight_oi = random(&mut rng, c_out * c_in, 0.5);
        let bias = random(&mut rng, c_out, 1.0);
        let expected = candle_conv(
            &input,
            (side, side, c_in),
            &weight_oi,
            (c_out, c_in, 1, 1),
            &bias,
            1,
            1,
        );

        let mut weight_io = vec![0.0; weight_oi.len()];
        for o in 0..c_out {
            for i in 0..c_in {
                weight_io[i * c_out + o] = weight_oi[o * c_in + i];
            }
        }
        let mut out = vec![0.0; side * side * c_out];
        kernels::pointwise(&input, &weight_io, &bias, c_in, Activation::None, &mut out);

        let error = relative_error(&out, &expected);
        assert!(
            error < TOLERANCE,
            "{side}x{side}x{c_in}->{c_out}: relative error {error:e}"
        );
    }
}

#[test]
fn im2col_gemm_matches_candle_strided_conv() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (height, width, c_in, c_out, kernel, stride) in [
        (32, 32, 3, 32, 3, 2),
        (9, 11, 3, 8, 3, 2),
        (8, 8, 5, 6, 5, 1),
    ] {
        let input = random(&mut rng, height * width * c_in, 1.0);
        let weight = random(&mut rng, c_out * c_in * kernel * kernel, 0.5);
        let bias = random(&mut rng, c_out, 1.0);
        let expected = candle_conv(
            &input,
            (height, width, c_in),
            &weight,
            (c_out, c_in, kernel, kernel),
            &bias,
            stride,
            1,
        );

        let mut weight_kkio = vec![0.0; weight.len()];
        for o in 0..c_out {
            for i in 0..c_in {
                for tap in 0..kernel * kernel {
                    weight_kkio[(tap * c_in + i) * c_out + o] =
                        weight[(o * c_in + i) * kernel * kernel + tap];
                }
            }
        }
        let shape = ConvShape {
            height,
            width,
            c_in,
            kernel,
            stride,
        };
        let mut columns = vec![0.0; shape.output_pixels() * shape.patch_len()];
        im2col(&input, shape, &mut columns);
        let mut out = vec![0.0; shape.output_pixels() * c_out];
        kernels::pointwise(
            &columns,
            &weight_kkio,
            &bias,
            shape.patch_len(),
            Activation::None,
            &mut out,
        );

        let error = relative_error(&out, &expected);
        assert!(error < TOLERANCE, "{shape:?}: relative error {error:e}");
    }
}

#[test]
fn average_pool_matches_candle_mean() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (pixels, channels) = (49, 1280);
    let input = random(&mut rng, pixels * channels, 6.0);
    let expected = Tensor::from_slice(&input, (pixels, channels), &Device::Cpu)
        .unwrap()
        .mean(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut out = vec![0.0; channels];
    global_average_pool(&input, channels, &mut out);
    let error = relative_error(&out, &expected);
    assert!(error < TOLERANCE, "relative error {error:e}");
}

#[test]
fn folded_batch_norm_matches_separate_batch_norm() {
    let params = load_params();
    let input = fixture("input_64").f32();
    let separate = ReferenceLite0::new(&params, BatchNormMode::Separate)
        .features(&input, 8, 64)
        .unwrap();
    let folded = ReferenceLite0::new(&params, BatchNormMode::Folded)
        .features(&input, 8, 64)
        .unwrap();
    let error = relative_error(&folded, &separate);
    assert!(
        error < TOLERANCE,
        "candle folded vs separate: relative error {error:e}"
    );

    let fast = FastLite0::new(&params).features(&nchw_to_nhwc(&input, 8, 3, 64, 64), 64);
    let error = relative_error(&fast, &separate);
    assert!(
        error < TOLERANCE,
        "fast folded vs candle separate: relative error {error:e}"
    );
}

#[test]
fn fast_network_matches_candle_on_random_input() {
    // An odd resolution exercises the asymmetric "SAME" padding at every stride.
    let params = load_params();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (count, resolution) = (2, 45);
    let input = random(&mut rng, count * 3 * resolution * resolution, 1.0);
    let reference = ReferenceLite0::new(&params, BatchNormMode::Separate);
    let expected = reference.logits(&input, count, resolution).unwrap();

    let network = FastLite0::new(&params);
    let features = network.features(
        &nchw_to_nhwc(&input, count, 3, resolution, resolution),
        resolution,
    );
    let logits = network.logits(&features);
    let error = relative_error(&logits, &expected);
    assert!(error < TOLERANCE, "logits: relative error {error:e}");
}
