//! Learners and the meta-net: seeded initialisation, forward with supplied
//! parameters, named tensors and rebuilding from them.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use cwerm_config::LearnerKind;
use cwerm_learners::{MetaNet, build_learner, load_learner};

fn features(rows: usize, dim: usize) -> Tensor {
    let values: Vec<f32> = (0..rows * dim)
        .map(|i| ((i * 7919) % 17) as f32 / 17.0 - 0.5)
        .collect();
    Tensor::from_vec(values, (rows, dim), &Device::Cpu).unwrap()
}

fn flat(tensor: &Tensor) -> Vec<f32> {
    tensor.flatten_all().unwrap().to_vec1().unwrap()
}

fn named_map(named: Vec<(String, Tensor)>) -> HashMap<String, Tensor> {
    named.into_iter().collect()
}

#[test]
fn learners_have_expected_shapes_and_names() {
    let linear = build_learner(LearnerKind::Linear, 6, 3, 0, 0).unwrap();
    let mlp = build_learner(LearnerKind::Mlp, 6, 3, 5, 0).unwrap();
    let x = features(4, 6);

    assert_eq!(linear.forward(&x).unwrap().dims(), &[4, 3]);
    assert_eq!(mlp.forward(&x).unwrap().dims(), &[4, 3]);

    let names: Vec<String> = mlp
        .named_tensors()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["learner.w1", "learner.b1", "learner.w2", "learner.b2"]
    );
    let shapes: Vec<Vec<usize>> = mlp.parameters().iter().map(|v| v.dims().to_vec()).collect();
    assert_eq!(shapes, [vec![5, 6], vec![5], vec![3, 5], vec![3]]);
}

#[test]
fn initialisation_is_seeded_with_pytorch_bound() {
    let a = build_learner(LearnerKind::Linear, 16, 3, 0, 11).unwrap();
    let b = build_learner(LearnerKind::Linear, 16, 3, 0, 11).unwrap();
    let c = build_learner(LearnerKind::Linear, 16, 3, 0, 12).unwrap();
    let a_w = flat(a.parameters()[0].as_tensor());
    assert_eq!(a_w, flat(b.parameters()[0].as_tensor()));
    assert_ne!(a_w, flat(c.parameters()[0].as_tensor()));
    // nn.Linear(16, 3) draws from U(-1/sqrt(16), 1/sqrt(16)) = U(-0.25, 0.25).
    assert!(a_w.iter().all(|v| v.abs() <= 0.25));
    assert!(a_w.iter().any(|v| v.abs() > 0.1));
}

#[test]
fn forward_with_uses_supplied_parameters() {
    let mlp = build_learner(LearnerKind::Mlp, 6, 3, 5, 1).unwrap();
    let x = features(4, 6);
    let labels = Tensor::new(&[0u32, 1, 2, 0], &Device::Cpu).unwrap();
    let stored = flat(&mlp.forward(&x).unwrap());

    let zeros: Vec<Tensor> = mlp
        .parameter_tensors()
        .iter()
        .map(|t| t.zeros_like().unwrap())
        .collect();
    assert!(
        flat(&mlp.forward_with(&zeros, &x).unwrap())
            .iter()
            .all(|v| *v == 0.0)
    );
    let losses = flat(&mlp.per_example_losses_with(&zeros, &x, &labels).unwrap());
    assert!(losses.iter().all(|l| (l - 3f32.ln()).abs() < 1e-6));

    assert_eq!(flat(&mlp.forward(&x).unwrap()), stored);
}

#[test]
fn forward_with_runs_in_f64() {
    let x = features(4, 6);
    let labels = Tensor::new(&[0u32, 1, 2, 0], &Device::Cpu).unwrap();
    for kind in [LearnerKind::Linear, LearnerKind::Mlp] {
        let learner = build_learner(kind, 6, 3, 5, 3).unwrap();
        let params: Vec<Tensor> = learner
            .parameter_tensors()
            .iter()
            .map(|t| t.to_dtype(DType::F64).unwrap())
            .collect();
        let x64 = x.to_dtype(DType::F64).unwrap();
        let losses = learner
            .per_example_losses_with(&params, &x64, &labels)
            .unwrap();
        assert_eq!(losses.dtype(), DType::F64);

        // The same losses as in f32, up to f32 rounding.
        let losses: Vec<f64> = losses.to_vec1().unwrap();
        let single = flat(&learner.per_example_losses(&x, &labels).unwrap());
        for (double, single) in losses.iter().zip(&single) {
            assert!(
                (double - f64::from(*single)).abs() < 1e-6,
                "{double} against {single}"
            );
        }
    }
}

#[test]
fn saved_learners_rebuild_identically() {
    let x = features(4, 6);
    for kind in [LearnerKind::Linear, LearnerKind::Mlp] {
        let learner = build_learner(kind, 6, 3, 5, 2).unwrap();
        let rebuilt = load_learner(&named_map(learner.named_tensors().unwrap())).unwrap();
        assert_eq!(rebuilt.kind(), learner.kind());
        assert_eq!(
            flat(&rebuilt.forward(&x).unwrap()),
            flat(&learner.forward(&x).unwrap())
        );
    }
}

#[test]
fn loading_reports_missing_and_misshapen_tensors() {
    let learner = build_learner(LearnerKind::Mlp, 6, 3, 5, 2).unwrap();
    let mut named = named_map(learner.named_tensors().unwrap());

    named.insert(
        "learner.b1".into(),
        Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap(),
    );
    let error = load_learner(&named).err().unwrap().to_string();
    assert_eq!(error, "parameter `learner.b1` has shape [4], expected [5]");

    named.remove("learner.b1");
    let error = load_learner(&named).err().unwrap().to_string();
    assert_eq!(
        error,
        "missing parameter `learner.b1` among the saved tensors (found: learner.b2, learner.w1, learner.w2)"
    );

    let error = load_learner(&HashMap::new()).err().unwrap().to_string();
    assert!(
        error.starts_with("cannot infer the learner from saved tensors named none"),
        "{error}"
    );
}

#[test]
fn meta_net_maps_losses_into_unit_interval() {
    let net = MetaNet::new(100, 1, 0).unwrap();
    let losses = Tensor::new(&[0f32, 0.5, 2.0, 10.0], &Device::Cpu).unwrap();
    let weights = flat(&net.weights(&losses).unwrap());
    assert_eq!(weights.len(), 4);
    assert!(weights.iter().all(|w| *w > 0.0 && *w < 1.0), "{weights:?}");

    let names: Vec<String> = net
        .named_tensors()
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "meta_net.0.weight",
            "meta_net.0.bias",
            "meta_net.1.weight",
            "meta_net.1.bias"
        ]
    );
}

#[test]
fn saved_meta_net_rebuilds_identically() {
    let net = MetaNet::new(8, 2, 3).unwrap();
    let rebuilt = MetaNet::from_named(&named_map(net.named_tensors().unwrap())).unwrap();
    assert_eq!(rebuilt.parameters().len(), 6);
    let losses = Tensor::new(&[0f32, 1.0, 3.0], &Device::Cpu).unwrap();
    assert_eq!(
        flat(&rebuilt.weights(&losses).unwrap()),
        flat(&net.weights(&losses).unwrap())
    );

    let error = MetaNet::from_named(&HashMap::new())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        error,
        "missing parameter `meta_net.0.weight` among the saved tensors (found: none)"
    );
}
