//! SGD with momentum and Adam, both with PyTorch's semantics (torch.optim, 2.x).
//!
//! SGD (dampening 0, no Nesterov): `g += wd * theta`; `buf = g` on the first step,
//! else `buf = momentum * buf + g`; `theta -= lr * buf`.
//!
//! Adam with L2 added to the gradient (PyTorch `Adam(weight_decay=..)`, not AdamW):
//! `g += wd * theta`; `m = b1 m + (1 - b1) g`; `v = b2 v + (1 - b2) g^2`;
//! `theta -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
//!
//! Parameters are candle [`Var`]s updated in place; the gradients are a slice in
//! the same order. Optimizer state is detached after every step, or each step's
//! graph would keep the previous one alive.

use candle_core::{Tensor, Var};

use crate::{LearnerError, Result};

/// Stochastic gradient descent with momentum and L2 weight decay.
pub struct Sgd {
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    /// Creates the optimizer; `lr > 0`, `momentum` in [0, 1), `weight_decay >= 0`.
    pub fn new(lr: f64, momentum: f64, weight_decay: f64) -> Result<Self> {
        check_learning_rate(lr)?;
        check_range("momentum", momentum, 0.0..1.0, "[0, 1)")?;
        check_range("weight decay", weight_decay, 0.0..f64::INFINITY, "[0, inf)")?;
        Ok(Self {
            lr,
            momentum,
            weight_decay,
            buffers: Vec::new(),
        })
    }

    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// Sets the learning rate for the next steps (a schedule may reach 0).
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_range("learning rate", lr, 0.0..f64::INFINITY, "[0, inf)")?;
        self.lr = lr;
        Ok(())
    }

    /// Returns the parameters one step would produce, `theta - lr * buf'`,
    /// without storing anything. The result is not detached, so when `grads`
    /// are differentiable the look-ahead is too.
    pub fn lookahead(&self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>> {
        check_lengths(params.len(), grads.len())?;
        params
            .iter()
            .zip(grads)
            .enumerate()
            .map(|(index, (param, grad))| {
                let direction = self.direction(index, param, grad)?;
                Ok((param - direction.affine(self.lr, 0.0)?)?)
            })
            .collect()
    }

    /// Applies one step to `vars` in place and stores the new momentum buffers.
    pub fn step(&mut self, vars: &[Var], grads: &[Tensor]) -> Result<()> {
        check_lengths(vars.len(), grads.len())?;
        if self.buffers.len() != vars.len() {
            self.buffers = vec![None; vars.len()];
        }
        for (index, (var, grad)) in vars.iter().zip(grads).enumerate() {
            let param = var.as_tensor().detach();
            let direction = self.direction(index, &param, &grad.detach())?.detach();
            let updated = (&param - direction.affine(self.lr, 0.0)?)?;
            var.set(&updated)?;
            if self.momentum > 0.0 {
                self.buffers[index] = Some(direction);
            }
        }
        Ok(())
    }

    /// `buf'` of PyTorch's SGD: the L2-decayed gradient plus the momentum term.
    fn direction(&self, index: usize, param: &Tensor, grad: &Tensor) -> Result<Tensor> {
        let mut direction = grad.clone();
        if self.weight_decay != 0.0 {
            direction = (direction + param.affine(self.weight_decay, 0.0)?)?;
        }
        if let Some(Some(buffer)) = self.buffers.get(index) {
            direction = (buffer.affine(self.momentum, 0.0)? + direction)?;
        }
        Ok(direction)
    }
}

/// Adam with L2 weight decay added to the gradient; betas (0.9, 0.999), eps 1e-8.
pub struct Adam {
    lr: f64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    steps: i32,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
}

impl Adam {
    /// Creates the optimizer with PyTorch's default betas and eps; `lr > 0`, `weight_decay >= 0`.
    pub fn new(lr: f64, weight_decay: f64) -> Result<Self> {
        check_learning_rate(lr)?;
        check_range("weight decay", weight_decay, 0.0..f64::INFINITY, "[0, inf)")?;
        Ok(Self {
            lr,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            steps: 0,
            first_moments: Vec::new(),
            second_moments: Vec::new(),
        })
    }

    /// Applies one step to `vars` in place and stores the detached moments.
    pub fn step(&mut self, vars: &[Var], grads: &[Tensor]) -> Result<()> {
        check_lengths(vars.len(), grads.len())?;
        if self.first_moments.len() != vars.len() {
            self.first_moments = vars
                .iter()
                .map(|var| var.as_tensor().zeros_like())
                .collect::<candle_core::Result<_>>()?;
            self.second_moments = self.first_moments.clone();
            self.steps = 0;
        }
        self.steps += 1;
        let first_correction = 1.0 - self.beta1.powi(self.steps);
        let second_correction = 1.0 - self.beta2.powi(self.steps);

        for (index, (var, grad)) in vars.iter().zip(grads).enumerate() {
            let param = var.as_tensor().detach();
            let mut grad = grad.detach();
            if self.weight_decay != 0.0 {
                grad = (grad + param.affine(self.weight_decay, 0.0)?)?;
            }
            let first = (self.first_moments[index].affine(self.beta1, 0.0)?
                + grad.affine(1.0 - self.beta1, 0.0)?)?
            .detach();
            let second = (self.second_moments[index].affine(self.beta2, 0.0)?
                + grad.sqr()?.affine(1.0 - self.beta2, 0.0)?)?
            .detach();

            let denominator = second
                .affine(1.0 / second_correction, 0.0)?
                .sqrt()?
                .affine(1.0, self.eps)?;
            let update = first
                .affine(self.lr / first_correction, 0.0)?
                .div(&denominator)?;
            var.set(&(&param - update)?)?;

            self.first_moments[index] = first;
            self.second_moments[index] = second;
        }
        Ok(())
    }
}

fn check_learning_rate(lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr > 0.0) {
        return Err(LearnerError::InvalidLearningRate(lr));
    }
    Ok(())
}

fn check_range(
    name: &'static str,
    value: f64,
    range: std::ops::Range<f64>,
    text: &'static str,
) -> Result<()> {
    if !(value.is_finite() && range.contains(&value)) {
        return Err(LearnerError::InvalidHyperparameter {
            name,
            value,
            range: text,
        });
    }
    Ok(())
}

fn check_lengths(params: usize, grads: usize) -> Result<()> {
    if params != grads {
        return Err(LearnerError::ParameterCount {
            expected: params,
            found: grads,
        });
    }
    Ok(())
}
