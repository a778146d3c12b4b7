//! The directional derivative `<G, grad_theta l_i(theta)>` of each per-example
//! loss along the meta-gradient direction `G`, the quantity the Meta-Weight-Net
//! meta-gradient is built from.
//!
//! The general method is a central finite difference,
//! `(l_i(theta + eps G) - l_i(theta - eps G)) / (2 eps)`: two forward passes
//! with supplied parameters, exact up to O(eps^2), for any [`Learner`]. For the
//! linear softmax head the closed form `(p_i - y_i)^T (G_W h_i + G_b)` serves
//! as the oracle. Shapes: inputs `[n, D]`, labels u32 `[n]`, result f32 `[n]`.

use candle_core::{D, DType, Tensor};
use cwerm_learners::Learner;

use crate::Result;

/// Cube root of the f32 machine epsilon (1.19e-7), about 4.9e-3.
const CBRT_F32_EPSILON: f64 = 4.92e-3;

/// Chooses the finite-difference step `eps` for the direction `G`.
///
/// The central difference has truncation error O(h^2) and rounding error
/// O(u / h) in the perturbation size `h = eps ||G||` measured against the
/// parameter scale, so the best `h` is about `cbrt(u)` times that scale, with
/// `u` the f32 unit roundoff. The scale is `max(||theta||, 1)`, so `theta`
/// moves by about 0.5% of its norm whatever the size of `G`. Returns 0 when
/// `G` is zero, where every directional derivative is 0.
pub fn finite_difference_eps(theta_norm: f64, direction_norm: f64) -> f64 {
    if direction_norm == 0.0 || !direction_norm.is_finite() {
        return 0.0;
    }
    CBRT_F32_EPSILON * theta_norm.max(1.0) / direction_norm
}

/// Returns the Euclidean norm of a list of tensors taken as one flat vector.
pub fn global_norm(tensors: &[Tensor]) -> Result<f64> {
    let mut total = 0f64;
    for tensor in tensors {
        total += tensor
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
    }
    Ok(total.sqrt())
}

/// Computes `<G, grad_theta l_i(theta)>` for every example by a central finite
/// difference; `theta` and `direction` follow the order of `learner.parameters()`.
pub fn finite_difference_directional(
    learner: &dyn Learner,
    theta: &[Tensor],
    direction: &[Tensor],
    inputs: &Tensor,
    labels: &Tensor,
) -> Result<Tensor> {
    let eps = finite_difference_eps(global_norm(theta)?, global_norm(direction)?);
    if eps == 0.0 {
        return Ok(Tensor::zeros(inputs.dim(0)?, DType::F32, inputs.device())?);
    }

    let shifted = |sign: f64| -> Result<Vec<Tensor>> {
        theta
            .iter()
            .zip(direction)
            .map(|(t, g)| Ok((t + g.affine(sign * eps, 0.0)?)?))
            .collect()
    };
    let plus = learner.per_example_losses_with(&shifted(1.0)?, inputs, labels)?;
    let minus = learner.per_example_losses_with(&shifted(-1.0)?, inputs, labels)?;
    Ok((plus - minus)?.affine(1.0 / (2.0 * eps), 0.0)?.detach())
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
