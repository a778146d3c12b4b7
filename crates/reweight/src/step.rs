//! One Meta-Weight-Net iteration (Shu et al., NeurIPS 2019) with a
//! finite-difference meta-gradient in place of second-order autodiff.
//!
//! With learner parameters theta, meta-net phi, learning rate alpha and a
//! training batch of n examples:
//! 1. `l_i = loss(f(x_i; theta), y_i)`, `v_i = V(l_i.detach(); phi)`;
//! 2. virtual step `theta' = theta - alpha * d`, where `d` is the SGD update
//!    direction of `mean(v_i l_i)` (weight decay and momentum included);
//! 3. `G = grad_theta' L_meta(theta')`, the mean cross-entropy on the meta batch;
//! 4. `dL_meta/dv_i = -(alpha / n) <G, grad_theta l_i(theta)>`, the inner
//!    product taken by a central finite difference (see `meta_gradient`);
//! 5. backpropagate `sum_i (dL_meta/dv_i) v_i` into phi and take an Adam step;
//! 6. take the real SGD step on `mean(w_i l_i)` with `w_i = V(l_i; phi)` held constant.
//!
//! The factor in step 4: PyTorch's SGD (dampening 0) forms
//! `buf' = momentum * buf + g + wd * theta` and steps `theta - alpha * buf'`.
//! Only `g = (1/n) sum_i v_i grad l_i` depends on `v`, and it enters `buf'` with
//! coefficient 1, so `d theta' / d v_i = -(alpha / n) grad l_i` with or without
//! momentum; momentum and weight decay only move the point `theta'` at which
//! `G` is taken.
//!
//! Shapes: training inputs `[n, D]`, meta inputs `[m, D]`, labels u32.

use candle_core::{DType, Tensor, Var};
use cwerm_learners::{Adam, Learner, MetaNet, Sgd, mean_cross_entropy};

use crate::meta_gradient::finite_difference_directional;
use crate::{Result, ReweightError};

/// Features and u32 labels of one batch.
pub struct Batch {
    pub inputs: Tensor,
    pub labels: Tensor,
}

/// Result of step 2 to 4 for fixed weights.
pub struct MetaGradient {
    /// `dL_meta/dv_i` `[n]`.
    pub per_weight: Tensor,
    /// `<G, grad_theta l_i(theta)>` `[n]`.
    pub directional: Tensor,
    /// Meta loss at the virtual parameters `theta'`.
    pub meta_loss: f32,
}

/// Measurements of one iteration, for the curves.
pub struct StepRecord {
    /// Unweighted mean training loss before the step.
    pub train_loss: f32,
    pub meta_loss: f32,
    /// Weights `V(l_i)` `[n]` after the meta-net update, used for the real step.
    pub weights: Vec<f32>,
}

/// The learner, the meta-net and their optimizers.
pub struct MetaWeightNet {
    pub learner: Box<dyn Learner>,
    pub meta_net: MetaNet,
    pub learner_optimizer: Sgd,
    pub meta_optimizer: Adam,
}

impl MetaWeightNet {
    /// Runs steps 2 to 4 for given weights `v` `[n]` without changing any state.
    pub fn meta_gradient(
        &self,
        batch: &Batch,
        meta: &Batch,
        weights: &Tensor,
    ) -> Result<MetaGradient> {
        let losses = self
            .learner
            .per_example_losses(&batch.inputs, &batch.labels)?;
        self.meta_gradient_from_losses(&losses, batch, meta, weights)
    }

    /// Runs one whole iteration (steps 1 to 6). A non-finite training or meta
    /// loss is an error naming `epoch` and `step`, raised before any parameter changes.
    pub fn step(
        &mut self,
        batch: &Batch,
        meta: &Batch,
        epoch: usize,
        step: usize,
    ) -> Result<StepRecord> {
        let non_finite = |what| ReweightError::NonFiniteLoss { what, epoch, step };
        let losses = self
            .learner
            .per_example_losses(&batch.inputs, &batch.labels)?;
        let train_loss = losses.mean_all()?.to_scalar::<f32>()?;
        if !train_loss.is_finite() {
            return Err(non_finite("training loss"));
        }
        let detached = losses.detach();
        let weights = self.meta_net.weights(&detached)?;

        let gradient = self.meta_gradient_from_losses(&losses, batch, meta, &weights.detach())?;
        if !gradient.meta_loss.is_finite() {
            return Err(non_finite("meta loss"));
        }

        // Step 5: the surrogate's gradient in phi is sum_i (dL_meta/dv_i) dv_i/dphi.
        let surrogate = weights.mul(&gradient.per_weight)?.sum_all()?;
        let meta_grads = gradients(&surrogate, self.meta_net.parameters())?;
        self.meta_optimizer
            .step(self.meta_net.parameters(), &meta_grads)?;

        // Step 6: the new weights are constants of the real step.
        let new_weights = self.meta_net.weights(&detached)?.detach();
        let weighted = losses.mul(&new_weights)?.mean_all()?;
        let grads = gradients(&weighted, self.learner.parameters())?;
        self.learner_optimizer
            .step(self.learner.parameters(), &grads)?;

        Ok(StepRecord {
            train_loss,
            meta_loss: gradient.meta_loss,
            weights: new_weights.to_vec1()?,
        })
    }

    fn meta_gradient_from_losses(
        &self,
        losses: &Tensor,
        batch: &Batch,
        meta: &Batch,
        weights: &Tensor,
    ) -> Result<MetaGradient> {
        let n = losses.dim(0)?;
        let theta: Vec<Tensor> = self
            .learner
            .parameter_tensors()
            .iter()
            .map(Tensor::detach)
            .collect();

        // Step 2: the virtual step, as fresh variables so G can be read off them.
        let weighted = losses.mul(&weights.detach())?.mean_all()?;
        let grads = gradients(&weighted, self.learner.parameters())?;
        let virtual_vars = self
            .learner_optimizer
            .lookahead(&theta, &grads)?
            .iter()
            .map(|t| Var::from_tensor(&t.detach()))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let virtual_params: Vec<Tensor> =
            virtual_vars.iter().map(|v| v.as_tensor().clone()).collect();

        // Step 3: G at theta'.
        let meta_logits = self.learner.forward_with(&virtual_params, &meta.inputs)?;
        let meta_loss = mean_cross_entropy(&meta_logits, &meta.labels)?;
        let direction = gradients(&meta_loss, &virtual_vars)?;

        // Step 4.
        let directional = finite_difference_directional(
            self.learner.as_ref(),
            &theta,
            &direction,
            &batch.inputs,
            &batch.labels,
        )?;
        let alpha = self.learner_optimizer.learning_rate();
        let per_weight = directional.affine(-alpha / n as f64, 0.0)?;

        Ok(MetaGradient {
            per_weight,
            directional,
            meta_loss: meta_loss.to_scalar::<f32>()?,
        })
    }
}

/// Backpropagates `scalar` and returns the gradient of each variable, zeros
/// for a variable the scalar does not depend on.
pub fn gradients(scalar: &Tensor, vars: &[Var]) -> Result<Vec<Tensor>> {
    let store = scalar.backward()?;
    vars.iter()
        .map(|var| match store.get(var.as_tensor()) {
            Some(grad) => Ok(grad.clone()),
            None => Ok(var.as_tensor().zeros_like()?.to_dtype(DType::F32)?),
        })
        .collect()
}
