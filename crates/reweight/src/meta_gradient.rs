//! The directional derivative `<G, grad_theta l_i(theta)>` of each per-example
//! loss along the meta-gradient direction `G`, the quantity the Meta-Weight-Net
//! meta-gradient is built from.
//!
//! The general method is a central finite difference,
//! `(l_i(theta + eps G) - l_i(theta - eps G)) / (2 eps)`: two forward passes
//! with supplied parameters, for any [`Learner`]. The two passes run in f64
//! (see [`finite_difference_eps`] for why). For the linear softmax head the
//! closed form `(p_i - y_i)^T (G_W h_i + G_b)` serves as the oracle.
//! Shapes: inputs `[n, D]` (or whatever the learner takes), labels u32 `[n]`,
//! result f32 `[n]`.

use candle_core::{D, DType, Tensor};
use cwerm_learners::Learner;

use crate::Result;

/// Size of the finite-difference perturbation as a fraction of the parameter
/// scale `max(||theta||, 1)`: the square root of the f64 machine epsilon
/// (2.2e-16), for forward passes evaluated in f64.
pub const RELATIVE_STEP: f64 = 1.49e-8;

/// Chooses the finite-difference step `eps` for the direction `G`, so that
/// `theta` moves by `eps ||G|| = RELATIVE_STEP * max(||theta||, 1)`.
///
/// Three errors depend on the relative perturbation size `h`:
/// - truncation: where the loss is smooth, the central difference is exact up
///   to `O(h^2)`;
/// - rounding: each loss carries a rounding error of a few `u` (the unit
///   roundoff) times its size, which the division by `2 eps` turns into
///   `O(u / h)`;
/// - kinks: a ReLU learner is only piecewise smooth. When `theta +- eps G`
///   moves a hidden pre-activation across 0, the difference mixes two linear
///   pieces and that unit's term is off by up to its whole size. The number of
///   units that cross grows linearly with `h`, so this error is `O(h)`, first
///   order like a one-sided difference.
///
/// In f32 (`u` = 6e-8) the rounding and kink terms pull against each other.
/// The smooth optimum `h = cbrt(u)` = 4.9e-3 moved the pre-activations of an
/// MLP 1280-256-10 by 0.033 against a median size of 0.46, and the
/// meta-gradient was 2.8% to 4.6% off. The best f32 step on that MLP, about
/// 1e-5, still left an error of 6e-4.
///
/// The passes therefore run in f64 (`u` = 1.1e-16). Balancing the O(h) kink
/// term against the O(u / h) rounding term gives `h` of order `sqrt(u)`, as
/// for a one-sided difference, and [`RELATIVE_STEP`] takes
/// `sqrt(f64::EPSILON)` = 1.49e-8. The truncation term, O(h^2) = 2e-16, is
/// then negligible. A crossing is rare at this step, and each one costs part
/// of one unit's term in one example. Measured on that MLP against
/// second-order autodiff (error in dL_meta/dv_i, f64 passes): 2.8e-2 at
/// `h` = 4.9e-3, 3.4e-3 at 1e-4, 3.2e-4 at 4.8e-6, and 1.8e-7 from 1e-6 down
/// to 1e-10, the floor set by the f32 autodiff used as the reference.
///
/// Returns 0 when `G` is zero or not finite, because a zero `G` has every
/// directional derivative 0.
pub fn finite_difference_eps(theta_norm: f64, direction_norm: f64) -> f64 {
    if direction_norm == 0.0 || !direction_norm.is_finite() {
        return 0.0;
    }
    RELATIVE_STEP * theta_norm.max(1.0) / direction_norm
}

/// Returns the Euclidean norm of a list of tensors taken as one flat vector.
pub fn global_norm(tensors: &[Tensor]) -> Result<f64> {
    let mut total = 0f64;
    for tensor in tensors {
        total += tensor
            .to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?;
    }
    Ok(total.sqrt())
}

/// Computes `<G, grad_theta l_i(theta)>` for every example by a central finite
/// difference in f64 with the step of [`finite_difference_eps`]; `theta` and
/// `direction` follow the order of `learner.parameters()`. The learner's
/// forward pass must accept f64 parameters and inputs, as `Linear` and `Mlp`
/// do on the CPU. Returns f32 `[n]`.
///
/// NOTE: candle 0.11's Metal matmul rejects f64, so this fails on a Metal device.
pub fn finite_difference_directional(
    learner: &dyn Learner,
    theta: &[Tensor],
    direction: &[Tensor],
    inputs: &Tensor,
    labels: &Tensor,
) -> Result<Tensor> {
    let eps = finite_difference_eps(global_norm(theta)?, global_norm(direction)?);
    central_difference(learner, theta, direction, inputs, labels, eps, DType::F64)
}

/// Computes `(l_i(theta + eps G) - l_i(theta - eps G)) / (2 eps)` for every
/// example with the parameters, direction and inputs cast to `dtype` for the
/// two forward passes. Returns f32 `[n]`, zeros when `eps` is 0.
pub fn central_difference(
    learner: &dyn Learner,
    theta: &[Tensor],
    direction: &[Tensor],
    inputs: &Tensor,
    labels: &Tensor,
    eps: f64,
    dtype: DType,
) -> Result<Tensor> {
    if eps == 0.0 {
        return Ok(Tensor::zeros(inputs.dim(0)?, DType::F32, inputs.device())?);
    }
    let theta = cast_all(theta, dtype)?;
    let steps: Vec<Tensor> = cast_all(direction, dtype)?
        .iter()
        .map(|g| g.affine(eps, 0.0))
        .collect::<candle_core::Result<_>>()?;
    let inputs = inputs.detach().to_dtype(dtype)?;

    let plus: Vec<Tensor> = theta
        .iter()
        .zip(&steps)
        .map(|(t, s)| t + s)
        .collect::<candle_core::Result<_>>()?;
    let minus: Vec<Tensor> = theta
        .iter()
        .zip(&steps)
        .map(|(t, s)| t - s)
        .collect::<candle_core::Result<_>>()?;
    let plus = learner.per_example_losses_with(&plus, &inputs, labels)?;
    let minus = learner.per_example_losses_with(&minus, &inputs, labels)?;
    Ok((plus - minus)?
        .affine(1.0 / (2.0 * eps), 0.0)?
        .to_dtype(DType::F32)?
        .detach())
}

/// Returns detached copies of `tensors` in `dtype`.
fn cast_all(tensors: &[Tensor], dtype: DType) -> Result<Vec<Tensor>> {
    tensors
        .iter()
        .map(|t| Ok(t.detach().to_dtype(dtype)?))
        .collect()
}

/// Computes `<G, grad l_i>` in closed form for the linear softmax head:
/// `(p_i - y_i)^T (G_W h_i + G_b)` with `p_i = softmax(W h_i + b)`; `theta` and
/// `direction` are `[W [K, D], b [K]]`.
pub fn linear_directional(
    theta: &[Tensor],
    direction: &[Tensor],
    inputs: &Tensor,
    labels: &Tensor,
) -> Result<Tensor> {
    let logits = inputs.matmul(&theta[0].t()?)?.broadcast_add(&theta[1])?;
    let probs = candle_core::Tensor::exp(&logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?)?)?;
    let probs = probs.broadcast_div(&probs.sum_keepdim(D::Minus1)?)?;

    let classes = logits.dim(1)?;
    let class_ids = Tensor::arange(0u32, classes as u32, inputs.device())?.unsqueeze(0)?;
    let one_hot = labels
        .unsqueeze(1)?
        .broadcast_eq(&class_ids)?
        .to_dtype(DType::F32)?;

    let logit_direction = inputs
        .matmul(&direction[0].t()?)?
        .broadcast_add(&direction[1])?;
    Ok((probs - one_hot)?.mul(&logit_direction)?.sum(D::Minus1)?)
}
