//! SGD and Adam against steps worked out by hand with PyTorch's update rules
//! (torch.optim.SGD and torch.optim.Adam, 2.x); the arithmetic is in each test.

use candle_core::{Device, Tensor, Var};
use cwerm_learners::{Adam, Sgd};

fn var(values: &[f32]) -> Var {
    Var::from_tensor(&Tensor::new(values, &Device::Cpu).unwrap()).unwrap()
}

fn grad(values: &[f32]) -> Tensor {
    Tensor::new(values, &Device::Cpu).unwrap()
}

fn values(var: &Var) -> Vec<f32> {
    var.as_tensor().to_vec1().unwrap()
}

fn assert_close(found: &[f32], expected: &[f64], tolerance: f64) {
    for (f, e) in found.iter().zip(expected) {
        assert!(
            (*f as f64 - e).abs() < tolerance,
            "found {found:?}, expected {expected:?}"
        );
    }
}

#[test]
fn sgd_momentum_matches_pytorch_steps() {
    // lr 0.1, momentum 0.9, weight decay 0.01, theta = [1, -2].
    // Step 1: g = [0.5, 0.25] + 0.01 theta = [0.51, 0.23]; buf = g;
    //         theta = [1 - 0.051, -2 - 0.023] = [0.949, -2.023].
    // Step 2: g = [-1, 0.5] + 0.01 theta = [-0.99051, 0.47977];
    //         buf = 0.9 [0.51, 0.23] + g = [-0.53151, 0.68677];
    //         theta = [0.949 + 0.053151, -2.023 - 0.068677] = [1.002151, -2.091677].
    let theta = var(&[1.0, -2.0]);
    let mut sgd = Sgd::new(0.1, 0.9, 0.01).unwrap();

    sgd.step(std::slice::from_ref(&theta), &[grad(&[0.5, 0.25])])
        .unwrap();
    assert_close(&values(&theta), &[0.949, -2.023], 1e-6);

    sgd.step(std::slice::from_ref(&theta), &[grad(&[-1.0, 0.5])])
        .unwrap();
    assert_close(&values(&theta), &[1.002151, -2.091677], 1e-6);
}

#[test]
fn sgd_lookahead_equals_step_without_storing() {
    let theta = var(&[1.0, -2.0]);
    let mut sgd = Sgd::new(0.1, 0.9, 0.01).unwrap();
    sgd.step(std::slice::from_ref(&theta), &[grad(&[0.5, 0.25])])
        .unwrap();

    let ahead = sgd
        .lookahead(&[theta.as_tensor().clone()], &[grad(&[-1.0, 0.5])])
        .unwrap();
    let ahead: Vec<f32> = ahead[0].to_vec1().unwrap();
    assert_close(&ahead, &[1.002151, -2.091677], 1e-6);
    assert_close(&values(&theta), &[0.949, -2.023], 1e-6);
}

#[test]
fn adam_matches_pytorch_steps() {
    // lr 0.01, weight decay 0.1 (added to the gradient), betas (0.9, 0.999), eps 1e-8.
    // Step 1: the bias-corrected ratio m/sqrt(v) is sign(g), so theta moves by
    //         lr: [0.99, -2.01].
    // Step 2: g = [-1, 0.5] + 0.1 theta = [-0.901, 0.299];
    //         m = 0.9 m1 + 0.1 g, v = 0.999 v1 + 0.001 g^2 with m1 = 0.1 g1,
    //         v1 = 0.001 g1^2, g1 = [0.6, 0.05];
    //         theta = [0.992481989, -2.018444169] (float64 Python of these rules).
    let theta = var(&[1.0, -2.0]);
    let mut adam = Adam::new(0.01, 0.1).unwrap();

    adam.step(std::slice::from_ref(&theta), &[grad(&[0.5, 0.25])])
        .unwrap();
    assert_close(&values(&theta), &[0.99, -2.01], 1e-6);

    adam.step(std::slice::from_ref(&theta), &[grad(&[-1.0, 0.5])])
        .unwrap();
    assert_close(&values(&theta), &[0.992_481_989, -2.018_444_169], 1e-6);
}

#[test]
fn optimizer_state_stays_detached() {
    let theta = var(&[1.0, -2.0]);
    let mut sgd = Sgd::new(0.1, 0.9, 0.01).unwrap();
    for _ in 0..3 {
        let loss = theta.as_tensor().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(theta.as_tensor()).unwrap().clone();
        sgd.step(std::slice::from_ref(&theta), &[g]).unwrap();
    }
    assert!(!theta.as_tensor().detach().track_op());
}

#[test]
fn invalid_hyperparameters_are_rejected() {
    let error = Sgd::new(0.0, 0.9, 0.0).err().unwrap().to_string();
    assert_eq!(
        error,
        "invalid learning rate 0: it must be finite and positive"
    );

    let error = Sgd::new(0.1, 1.0, 0.0).err().unwrap().to_string();
    assert_eq!(error, "invalid momentum 1: it must be finite and in [0, 1)");

    let error = Adam::new(f64::NAN, 0.0).err().unwrap().to_string();
    assert_eq!(
        error,
        "invalid learning rate NaN: it must be finite and positive"
    );

    let error = Adam::new(1e-3, -1.0).err().unwrap().to_string();
    assert_eq!(
        error,
        "invalid weight decay -1: it must be finite and in [0, inf)"
    );
}

#[test]
fn mismatched_gradients_are_rejected() {
    let theta = var(&[1.0, -2.0]);
    let mut sgd = Sgd::new(0.1, 0.9, 0.0).unwrap();
    let error = sgd.step(&[theta], &[]).err().unwrap().to_string();
    assert_eq!(error, "expected 1 parameter tensors, found 0");
}
