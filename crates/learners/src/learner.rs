//! Classifier heads on features and the [`Learner`] trait the meta step uses.
//!
//! - [`Linear`]: softmax regression, features `[N, D]` -> logits `[N, K]`,
//!   parameters `learner.w` `[K, D]` and `learner.b` `[K]`.
//! - [`Mlp`]: one hidden ReLU layer of width H, parameters `learner.w1`
//!   `[H, D]`, `learner.b1` `[H]`, `learner.w2` `[K, H]`, `learner.b2` `[K]`.
//!
//! Weights are stored `[out, in]` as in PyTorch's `nn.Linear`.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use cwerm_config::LearnerKind;

use crate::init::{dense_layer, seeded_rng};
use crate::loss::per_example_cross_entropy;
use crate::{LearnerError, Result};

/// A classifier whose parameters form a flat list of tensors.
///
/// The meta step needs only this trait: it reads the parameters, runs the
/// forward pass with parameters of its own (the virtual step `theta'` and the
/// finite-difference points `theta +- eps G`), and requests per-example losses.
/// A pixel model fits the same trait: its `inputs` are images `[N, C, H, W]`.
pub trait Learner: Send {
    /// Short name of the architecture, as in the pipeline file (`linear`, `mlp`).
    fn kind(&self) -> &'static str;

    /// The trainable parameters in a fixed order.
    fn parameters(&self) -> &[Var];

    /// Stable names of the parameters, in the order of [`Learner::parameters`].
    fn parameter_names(&self) -> &'static [&'static str];

    /// Computes logits `[N, K]` for `inputs` with the given parameters, which must
    /// have the shapes of [`Learner::parameters`] in the same order. Parameters
    /// and inputs may be f64 instead of f32 (the logits then are f64): the meta
    /// step runs its finite difference in f64.
    fn forward_with(&self, params: &[Tensor], inputs: &Tensor) -> Result<Tensor>;

    /// Returns the stored parameter values as tensors that gradients flow into.
    fn parameter_tensors(&self) -> Vec<Tensor> {
        self.parameters()
            .iter()
            .map(|var| var.as_tensor().clone())
            .collect()
    }

    /// Computes logits `[N, K]` with the stored parameters.
    fn forward(&self, inputs: &Tensor) -> Result<Tensor> {
        self.forward_with(&self.parameter_tensors(), inputs)
    }

    /// Per-example cross-entropy `[N]` with the given parameters; `labels` are u32 `[N]`.
    fn per_example_losses_with(
        &self,
        params: &[Tensor],
        inputs: &Tensor,
        labels: &Tensor,
    ) -> Result<Tensor> {
        per_example_cross_entropy(&self.forward_with(params, inputs)?, labels)
    }

    /// Per-example cross-entropy `[N]` with the stored parameters.
    fn per_example_losses(&self, inputs: &Tensor, labels: &Tensor) -> Result<Tensor> {
        self.per_example_losses_with(&self.parameter_tensors(), inputs, labels)
    }

    /// Copies the parameters out as `(name, f32 tensor)` pairs, ready for safetensors.
    fn named_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.parameter_names()
            .iter()
            .zip(self.parameters())
            .map(|(name, var)| Ok((name.to_string(), var.as_tensor().detach().copy()?)))
            .collect()
    }
}

/// Softmax regression: `logits = x W^T + b`.
pub struct Linear {
    params: Vec<Var>,
}

impl Linear {
    /// Draws a head for `features`-d inputs and `classes` outputs from `seed`.
    pub fn new(features: usize, classes: usize, seed: u64) -> Result<Self> {
        check_size("feature dimension", features)?;
        check_size("number of classes", classes)?;
        let mut rng = seeded_rng(seed);
        let (w, b) = dense_layer(&mut rng, features, classes)?;
        Ok(Self {
            params: vec![Var::from_tensor(&w)?, Var::from_tensor(&b)?],
        })
    }

    /// Rebuilds a head from saved tensors `learner.w` `[K, D]` and `learner.b` `[K]`.
    pub fn from_named(named: &HashMap<String, Tensor>) -> Result<Self> {
        let w = take(named, "learner.w")?;
        let (classes, _) = w
            .dims2()
            .map_err(|_| shape_error("learner.w", "[K, D]", &w))?;
        let b = take_shaped(named, "learner.b", &[classes])?;
        Ok(Self {
            params: vec![Var::from_tensor(&w)?, Var::from_tensor(&b)?],
        })
    }
}

impl Learner for Linear {
    fn kind(&self) -> &'static str {
        "linear"
    }

    fn parameters(&self) -> &[Var] {
        &self.params
    }

    fn parameter_names(&self) -> &'static [&'static str] {
        &["learner.w", "learner.b"]
    }

    fn forward_with(&self, params: &[Tensor], inputs: &Tensor) -> Result<Tensor> {
        check_count(params, 2)?;
        dense(inputs, &params[0], &params[1])
    }
}

/// One hidden ReLU layer: `logits = relu(x W1^T + b1) W2^T + b2`.
pub struct Mlp {
    params: Vec<Var>,
}

impl Mlp {
    /// Draws an MLP `features -> hidden -> classes` from `seed`.
    pub fn new(features: usize, hidden: usize, classes: usize, seed: u64) -> Result<Self> {
        check_size("feature dimension", features)?;
        check_size("hidden width", hidden)?;
        check_size("number of classes", classes)?;
        let mut rng = seeded_rng(seed);
        let (w1, b1) = dense_layer(&mut rng, features, hidden)?;
        let (w2, b2) = dense_layer(&mut rng, hidden, classes)?;
        let params = [w1, b1, w2, b2]
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { params })
    }

    /// Rebuilds an MLP from saved tensors `learner.w1`, `learner.b1`, `learner.w2`, `learner.b2`.
    pub fn from_named(named: &HashMap<String, Tensor>) -> Result<Self> {
        let w1 = take(named, "learner.w1")?;
        let (hidden, _) = w1
            .dims2()
            .map_err(|_| shape_error("learner.w1", "[H, D]", &w1))?;
        let b1 = take_shaped(named, "learner.b1", &[hidden])?;
        let w2 = take(named, "learner.w2")?;
        let (classes, w2_in) = w2
            .dims2()
            .map_err(|_| shape_error("learner.w2", "[K, H]", &w2))?;
        if w2_in != hidden {
            return Err(shape_error("learner.w2", &format!("[K, {hidden}]"), &w2));
        }
        let b2 = take_shaped(named, "learner.b2", &[classes])?;
        let params = [w1, b1, w2, b2]
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { params })
    }
}

impl Learner for Mlp {
    fn kind(&self) -> &'static str {
        "mlp"
    }

    fn parameters(&self) -> &[Var] {
        &self.params
    }

    fn parameter_names(&self) -> &'static [&'static str] {
        &["learner.w1", "learner.b1", "learner.w2", "learner.b2"]
    }

    fn forward_with(&self, params: &[Tensor], inputs: &Tensor) -> Result<Tensor> {
        check_count(params, 4)?;
        let hidden = dense(inputs, &params[0], &params[1])?.relu()?;
        dense(&hidden, &params[2], &params[3])
    }
}

/// Builds the learner named in the config, initialised from `seed`;
/// `hidden` is used by `mlp` only.
pub fn build_learner(
    kind: LearnerKind,
    features: usize,
    classes: usize,
    hidden: usize,
    seed: u64,
) -> Result<Box<dyn Learner>> {
    Ok(match kind {
        LearnerKind::Linear => Box::new(Linear::new(features, classes, seed)?),
        LearnerKind::Mlp => Box::new(Mlp::new(features, hidden, classes, seed)?),
    })
}

/// Rebuilds a learner from saved tensors, choosing the architecture by the
/// parameter names; keys that do not start with `learner.` are ignored.
pub fn load_learner(named: &HashMap<String, Tensor>) -> Result<Box<dyn Learner>> {
    if named.contains_key("learner.w") {
        Ok(Box::new(Linear::from_named(named)?))
    } else if named.contains_key("learner.w1") {
        Ok(Box::new(Mlp::from_named(named)?))
    } else {
        Err(LearnerError::UnknownLearner {
            found: sorted_keys(named),
        })
    }
}

/// `x W^T + b` for `x` `[N, in]`, `W` `[out, in]`, `b` `[out]`.
pub(crate) fn dense(inputs: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    Ok(inputs.matmul(&weight.t()?)?.broadcast_add(bias)?)
}

fn check_size(what: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(LearnerError::InvalidSize {
            what,
            expected: "at least 1".into(),
            found: value,
        });
    }
    Ok(())
}

fn check_count(params: &[Tensor], expected: usize) -> Result<()> {
    if params.len() != expected {
        return Err(LearnerError::ParameterCount {
            expected,
            found: params.len(),
        });
    }
    Ok(())
}

pub(crate) fn sorted_keys(named: &HashMap<String, Tensor>) -> String {
    let mut keys: Vec<&str> = named.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys.is_empty() {
        "none".into()
    } else {
        keys.join(", ")
    }
}

/// Looks up `name` and converts it to a contiguous f32 tensor.
pub(crate) fn take(named: &HashMap<String, Tensor>, name: &str) -> Result<Tensor> {
    let tensor = named
        .get(name)
        .ok_or_else(|| LearnerError::MissingParameter {
            name: name.into(),
            found: sorted_keys(named),
        })?;
    Ok(tensor
        .to_dtype(candle_core::DType::F32)?
        .contiguous()?
        .copy()?)
}

pub(crate) fn take_shaped(
    named: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
) -> Result<Tensor> {
    let tensor = take(named, name)?;
    if tensor.dims() != shape {
        return Err(shape_error(name, &format!("{shape:?}"), &tensor));
    }
    Ok(tensor)
}

pub(crate) fn shape_error(name: &str, expected: &str, tensor: &Tensor) -> LearnerError {
    LearnerError::ShapeMismatch {
        name: name.into(),
        expected: expected.into(),
        found: tensor.dims().to_vec(),
    }
}
