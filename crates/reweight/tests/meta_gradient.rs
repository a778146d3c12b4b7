//! The finite-difference meta-gradient against the closed form of the linear
//! softmax head, `<G, grad l_i> = (p_i - y_i)^T (G_W h_i + G_b)`.

mod common;

use candle_core::Tensor;
use cwerm_config::LearnerKind;
use cwerm_learners::{Adam, MetaNet, Sgd, build_learner};
use cwerm_reweight::meta_gradient::{finite_difference_directional, linear_directional};
use cwerm_reweight::{Batch, MetaWeightNet};

fn relative_error(found: &Tensor, expected: &Tensor) -> f64 {
    let found: Vec<f32> = found.to_vec1().unwrap();
    let expected: Vec<f32> = expected.to_vec1().unwrap();
    let difference: f64 = found
        .iter()
        .zip(&expected)
        .map(|(f, e)| (f64::from(*f) - f64::from(*e)).powi(2))
        .sum();
    let norm: f64 = expected.iter().map(|e| f64::from(*e).powi(2)).sum();
    (difference / norm).sqrt()
}

fn batch(data: &common::Synthetic, rows: &[u32]) -> Batch {
    let index = Tensor::new(rows, &candle_core::Device::Cpu).unwrap();
    let labels: Vec<u32> = rows.iter().map(|&r| data.labels[r as usize]).collect();
    Batch {
        inputs: data.features.index_select(&index, 0).unwrap(),
        labels: Tensor::new(labels.as_slice(), &candle_core::Device::Cpu).unwrap(),
    }
}

#[test]
fn finite_difference_matches_linear_closed_form() {
    let data = common::clusters(5, 32, 20, 4, 3.0, 0.4, 1);
    let train = batch(&data, &data.coreset[..50]);
    let learner = build_learner(LearnerKind::Linear, 32, 5, 0, 3).unwrap();
    let theta = learner.parameter_tensors();

    // Any direction works; take one of the size of a real meta-gradient.
    let direction: Vec<Tensor> = theta
        .iter()
        .map(|t| t.affine(0.3, 0.01).unwrap().sin().unwrap())
        .collect();
    let expected = linear_directional(&theta, &direction, &train.inputs, &train.labels).unwrap();
    let found = finite_difference_directional(
        learner.as_ref(),
        &theta,
        &direction,
        &train.inputs,
        &train.labels,
    )
    .unwrap();

    let error = relative_error(&found, &expected);
    eprintln!("relative error {error}");
    assert!(error < 1e-3, "relative error {error}");
}

#[test]
fn meta_step_gradient_matches_closed_form_with_momentum() {
    let data = common::clusters(4, 16, 30, 5, 3.0, 0.4, 2);
    let train = batch(&data, &data.coreset[..40]);
    let meta = batch(&data, &data.meta);
    let mut model = MetaWeightNet {
        learner: build_learner(LearnerKind::Linear, 16, 4, 0, 5).unwrap(),
        meta_net: MetaNet::new(10, 1, 6).unwrap(),
        learner_optimizer: Sgd::new(0.1, 0.9, 0.05).unwrap(),
        meta_optimizer: Adam::new(1e-3, 1e-4).unwrap(),
    };
    // Two real steps first, so the momentum buffer is non-zero.
    for step in 0..2 {
        model.step(&train, &meta, 0, step).unwrap();
    }

    let weights = Tensor::full(0.5f32, 40, &candle_core::Device::Cpu).unwrap();
    let gradient = model.meta_gradient(&train, &meta, &weights).unwrap();

    // Rebuild G by hand: theta' = theta - lr * buf', then G = grad L_meta(theta').
    let theta: Vec<Tensor> = model
        .learner
        .parameter_tensors()
        .iter()
        .map(Tensor::detach)
        .collect();
    let losses = model
        .learner
        .per_example_losses(&train.inputs, &train.labels)
        .unwrap();
    let weighted = losses.mul(&weights).unwrap().mean_all().unwrap();
    let grads = cwerm_reweight::gradients(&weighted, model.learner.parameters()).unwrap();
    let ahead = model.learner_optimizer.lookahead(&theta, &grads).unwrap();
    let vars: Vec<candle_core::Var> = ahead
        .iter()
        .map(|t| candle_core::Var::from_tensor(&t.detach()).unwrap())
        .collect();
    let ahead_tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let meta_loss = cwerm_learners::mean_cross_entropy(
        &model
            .learner
            .forward_with(&ahead_tensors, &meta.inputs)
            .unwrap(),
        &meta.labels,
    )
    .unwrap();
    let direction = cwerm_reweight::gradients(&meta_loss, &vars).unwrap();

    let closed = linear_directional(&theta, &direction, &train.inputs, &train.labels).unwrap();
    let expected = closed.affine(-0.1 / 40.0, 0.0).unwrap();
    let error = relative_error(&gradient.per_weight, &expected);
    eprintln!("relative error {error}");
    assert!(error < 1e-3, "relative error {error}");
    assert!((gradient.meta_loss - meta_loss.to_scalar::<f32>().unwrap()).abs() < 1e-6);
}

#[test]
fn eps_is_sqrt_epsilon_of_scale() {
    use cwerm_reweight::meta_gradient::{RELATIVE_STEP, finite_difference_eps};

    assert!((RELATIVE_STEP / f64::EPSILON.sqrt() - 1.0).abs() < 1e-2);
    // eps ||G|| = RELATIVE_STEP max(||theta||, 1).
    assert_eq!(finite_difference_eps(4.0, 2.0), 2.0 * RELATIVE_STEP);
    assert_eq!(finite_difference_eps(0.25, 0.5), 2.0 * RELATIVE_STEP);
    // A zero or non-finite direction gives no step, and zero derivatives.
    assert_eq!(finite_difference_eps(4.0, 0.0), 0.0);
    assert_eq!(finite_difference_eps(4.0, f64::NAN), 0.0);

    let data = common::clusters(3, 8, 10, 2, 3.0, 0.4, 3);
    let train = batch(&data, &data.coreset[..10]);
    let learner = build_learner(LearnerKind::Mlp, 8, 3, 4, 3).unwrap();
    let theta = learner.parameter_tensors();
    let zero: Vec<Tensor> = theta.iter().map(|t| t.zeros_like().unwrap()).collect();
    let found = finite_difference_directional(
        learner.as_ref(),
        &theta,
        &zero,
        &train.inputs,
        &train.labels,
    )
    .unwrap();
    assert_eq!(found.dtype(), candle_core::DType::F32);
    assert_eq!(found.to_vec1::<f32>().unwrap(), vec![0.0; 10]);
}
