//! The finite-difference meta-gradient against true second-order autodiff on a
//! tiny MLP learner.
//!
//! candle differentiates through a backward pass only when
//! `CANDLE_GRAD_DO_NOT_DETACH` is set, and each thread reads it once, on its
//! first backward pass. This file is its own test binary with this single test,
//! so its process sets the variable before any candle operation. The
//! learner loss picks the target class with a one-hot mask, because the
//! `gather` backward fails in that mode.

use candle_core::{Device, Tensor, Var};
use cwerm_config::LearnerKind;
use cwerm_learners::{Adam, MetaNet, Sgd, build_learner, mean_cross_entropy};
use cwerm_reweight::{Batch, MetaWeightNet, gradients};

fn tensor(values: &[f32], shape: (usize, usize)) -> Tensor {
    Tensor::from_vec(values.to_vec(), shape, &Device::Cpu).unwrap()
}

#[test]
fn finite_difference_matches_second_order_autodiff() {
    // SAFETY: set before any other code of this process runs candle or reads
    // the environment; this binary contains no other test.
    unsafe { std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1") };

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

    // Second order: theta'(v) = theta - lr * (momentum * buf + grad mean(v l) + wd * theta),
    // with the inner gradient kept differentiable in v; then dL_meta(theta')/dv.
    let v = Var::from_tensor(&weights).unwrap();
    let losses = model
        .learner
        .per_example_losses(&batch.inputs, &batch.labels)
        .unwrap();
    let weighted = losses.mul(v.as_tensor()).unwrap().mean_all().unwrap();
    let inner = gradients(&weighted, model.learner.parameters()).unwrap();
    let theta: Vec<Tensor> = model
        .learner
        .parameter_tensors()
        .iter()
        .map(Tensor::detach)
        .collect();
    let ahead = model.learner_optimizer.lookahead(&theta, &inner).unwrap();
    let meta_loss = mean_cross_entropy(
        &model.learner.forward_with(&ahead, &meta.inputs).unwrap(),
        &meta.labels,
    )
    .unwrap();
    let expected = gradients(&meta_loss, std::slice::from_ref(&v)).unwrap();
    let expected: Vec<f32> = expected[0].to_vec1().unwrap();

    let difference: f64 = found
        .iter()
        .zip(&expected)
        .map(|(f, e)| (f64::from(*f) - f64::from(*e)).powi(2))
        .sum();
    let norm: f64 = expected.iter().map(|e| f64::from(*e).powi(2)).sum();
    assert!(norm > 0.0, "second-order gradient is zero: {expected:?}");
    let error = (difference / norm).sqrt();
    eprintln!("relative error {error}");
    assert!(
        error < 1e-3,
        "relative error {error}: finite difference {found:?}, autodiff {expected:?}"
    );
}
