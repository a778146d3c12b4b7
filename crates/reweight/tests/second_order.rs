//! The finite-difference meta-gradient against true second-order autodiff, on
//! a tiny MLP learner and on one of realistic width.
//!
//! candle differentiates through a backward pass only when
//! `CANDLE_GRAD_DO_NOT_DETACH` is set, and each thread reads it once, on its
//! first backward pass. This file is its own test binary, and every test in it
//! calls `second_order_mode` before any candle operation, so each test thread
//! reads the variable after it is set. The learner loss picks the target class
//! with a one-hot mask, because the `gather` backward fails in that mode.

use std::sync::Once;

use candle_core::{DType, Device, Tensor, Var};
use cwerm_config::LearnerKind;
use cwerm_learners::{
    Adam, MetaNet, Sgd, build_learner, mean_cross_entropy, seeded_rng, uniform_tensor,
};
use cwerm_reweight::meta_gradient::{central_difference, global_norm};
use cwerm_reweight::{Batch, MetaWeightNet, gradients};
use rand::Rng;

static SECOND_ORDER: Once = Once::new();

/// Sets `CANDLE_GRAD_DO_NOT_DETACH` once for the whole process.
fn second_order_mode() {
    SECOND_ORDER.call_once(|| {
        // SAFETY: every test of this binary calls this function before it runs
        // any candle code, and `Once` makes the others wait until the write is
        // done, so no thread of this process reads the environment meanwhile.
        unsafe { std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1") };
    });
}

fn tensor(values: &[f32], shape: (usize, usize)) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape, &Device::Cpu).unwrap()
}

/// Returns `||found - expected|| / ||expected||`, asserting that `expected` is not zero.
fn relative_error(found: &[f32], expected: &[f32]) -> f64 {
    let difference: f64 = found
        .iter()
        .zip(expected)
        .map(|(f, e)| (f64::from(*f) - f64::from(*e)).powi(2))
        .sum();
    let norm: f64 = expected.iter().map(|e| f64::from(*e).powi(2)).sum();
    assert!(norm > 0.0, "second-order gradient is zero: {expected:?}");
    (difference / norm).sqrt()
}

/// Returns the stored learner parameters, detached.
fn theta(model: &MetaWeightNet) -> Vec<Tensor> {
    model
        .learner
        .parameter_tensors()
        .iter()
        .map(Tensor::detach)
        .collect()
}

/// Computes `dL_meta(theta'(v))/dv` by second-order autodiff, with
/// `theta'(v) = theta - lr * (momentum * buf + grad mean(v l) + wd * theta)`
/// and the inner gradient kept differentiable in `v`.
fn second_order_per_weight(
    model: &MetaWeightNet,
    batch: &Batch,
    meta: &Batch,
    weights: &Tensor,
) -> Vec<f32> {
    let v = Var::from_tensor(weights).unwrap();
    let losses = model
        .learner
        .per_example_losses(&batch.inputs, &batch.labels)
        .unwrap();
    let weighted = losses.mul(v.as_tensor()).unwrap().mean_all().unwrap();
    let inner = gradients(&weighted, model.learner.parameters()).unwrap();
    let ahead = model
        .learner_optimizer
        .lookahead(&theta(model), &inner)
        .unwrap();
    let meta_loss = mean_cross_entropy(
        &model.learner.forward_with(&ahead, &meta.inputs).unwrap(),
        &meta.labels,
    )
    .unwrap();
    let expected = gradients(&meta_loss, std::slice::from_ref(&v)).unwrap();
    expected[0].to_vec1().unwrap()
}

/// Computes the meta-gradient direction `G = grad L_meta(theta')` at the
/// virtual step taken with weights `v`, by first-order autodiff as the meta step does.
fn meta_direction(
    model: &MetaWeightNet,
    batch: &Batch,
    meta: &Batch,
    weights: &Tensor,
) -> Vec<Tensor> {
    let losses = model
        .learner
        .per_example_losses(&batch.inputs, &batch.labels)
        .unwrap();
    let weighted = losses.mul(weights).unwrap().mean_all().unwrap();
    let grads = gradients(&weighted, model.learner.parameters()).unwrap();
    let ahead = model
        .learner_optimizer
        .lookahead(&theta(model), &grads)
        .unwrap();
    let vars: Vec<Var> = ahead
        .iter()
        .map(|t| Var::from_tensor(&t.detach()).unwrap())
        .collect();
    let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let meta_loss = mean_cross_entropy(
        &model.learner.forward_with(&params, &meta.inputs).unwrap(),
        &meta.labels,
    )
    .unwrap();
    gradients(&meta_loss, &vars)
        .unwrap()
        .iter()
        .map(Tensor::detach)
        .collect()
}

#[test]
fn finite_difference_matches_second_order_autodiff() {
    second_order_mode();

    // 6 training and 4 meta examples, 3 features, 3 classes, hidden width 4.
    let inputs: Vec<f32> = (0..18)
        .map(|i| ((i * 37 % 11) as f32 - 5.0) / 4.0)
        .collect();
    let meta_inputs: Vec<f32> = (0..12).map(|i| ((i * 23 % 7) as f32 - 3.0) / 3.0).collect();
    let batch = Batch {
        inputs: tensor(&inputs, (6, 3)),
        labels: Tensor::new(&[0u32, 1, 2, 2, 1, 0], &Device::Cpu).unwrap(),
    };
    let meta = Batch {
        inputs: tensor(&meta_inputs, (4, 3)),
        labels: Tensor::new(&[1u32, 0, 2, 1], &Device::Cpu).unwrap(),
    };
    let mut model = MetaWeightNet {
        learner: build_learner(LearnerKind::Mlp, 3, 3, 4, 9).unwrap(),
        meta_net: MetaNet::new(5, 1, 1).unwrap(),
        learner_optimizer: Sgd::new(0.5, 0.9, 0.05).unwrap(),
        meta_optimizer: Adam::new(1e-2, 1e-4).unwrap(),
    };
    // One real step so that the momentum buffer enters the virtual step.
    model.step(&batch, &meta, 0, 0).unwrap();

    let weights = Tensor::new(&[0.2f32, 0.9, 0.5, 0.7, 0.1, 0.6], &Device::Cpu).unwrap();
    let found = model.meta_gradient(&batch, &meta, &weights).unwrap();
    let found: Vec<f32> = found.per_weight.to_vec1().unwrap();
    let expected = second_order_per_weight(&model, &batch, &meta, &weights);

    let error = relative_error(&found, &expected);
    eprintln!("relative error {error}");
    assert!(
        error < 1e-3,
        "relative error {error}: finite difference {found:?}, autodiff {expected:?}"
    );
}

/// Draws a seeded batch of `rows` uniform features in [0, 2) with uniform labels.
fn seeded_batch(
    rng: &mut rand_chacha::ChaCha8Rng,
    rows: usize,
    features: usize,
    classes: u32,
) -> Batch {
    let inputs = (uniform_tensor(rng, &[rows, features], 1.0).unwrap() + 1.0).unwrap();
    let labels: Vec<u32> = (0..rows).map(|_| rng.random_range(0..classes)).collect();
    Batch {
        inputs,
        labels: Tensor::new(labels.as_slice(), &Device::Cpu).unwrap(),
    }
}

#[test]
fn finite_difference_matches_at_realistic_width() {
    second_order_mode();

    // The shape and settings of the PyTorch parity check: MLP 1280-256-10,
    // batch and meta batch of 100, uniform features in [0, 2), SGD lr 0.1,
    // momentum 0.9, weight decay 0.05. The input width matters because the
    // float32 step below moves the hidden pre-activations by a share of their
    // size that grows with it. On this seed its error was 1.8e-3 at 64 inputs,
    // 1.2e-2 at 256 and 2.8e-2 at 1280.
    let mut rng = seeded_rng(21);
    let batch = seeded_batch(&mut rng, 100, 1280, 10);
    let meta = seeded_batch(&mut rng, 100, 1280, 10);
    let mut model = MetaWeightNet {
        learner: build_learner(LearnerKind::Mlp, 1280, 10, 256, 22).unwrap(),
        meta_net: MetaNet::new(100, 1, 23).unwrap(),
        learner_optimizer: Sgd::new(0.1, 0.9, 0.05).unwrap(),
        meta_optimizer: Adam::new(1e-3, 1e-4).unwrap(),
    };
    model.step(&batch, &meta, 0, 0).unwrap();

    let weights = (uniform_tensor(&mut rng, &[100], 0.5).unwrap() + 0.5).unwrap();
    let found = model.meta_gradient(&batch, &meta, &weights).unwrap();
    let found: Vec<f32> = found.per_weight.to_vec1().unwrap();
    let expected = second_order_per_weight(&model, &batch, &meta, &weights);
    let error = relative_error(&found, &expected);

    // A float32 difference with the step sized for a smooth loss: theta moves
    // by cbrt(f32 epsilon) = 4.92e-3 of max(||theta||, 1).
    let theta = theta(&model);
    let direction = meta_direction(&model, &batch, &meta, &weights);
    let old_eps =
        4.92e-3 * global_norm(&theta).unwrap().max(1.0) / global_norm(&direction).unwrap();
    let old = central_difference(
        model.learner.as_ref(),
        &theta,
        &direction,
        &batch.inputs,
        &batch.labels,
        old_eps,
        DType::F32,
    )
    .unwrap()
    .affine(-0.1 / 100.0, 0.0)
    .unwrap();
    let old_error = relative_error(&old.to_vec1().unwrap(), &expected);

    // Measured: 1.8e-7 for the f64 difference, 2.8e-2 for the float32 one.
    // The bound leaves room for the f32 rounding of the autodiff oracle.
    eprintln!("relative error {error}, with the float32 step {old_error}");
    assert!(error < 1e-4, "relative error {error}");
    assert!(
        old_error > 1e-2,
        "the float32 step is within tolerance too ({old_error}), so this case does not tell them apart"
    );
}
