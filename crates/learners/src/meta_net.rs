//! The Meta-Weight-Net meta-net `V` (Shu et al., "Meta-Weight-Net: Learning an
//! Explicit Mapping For Sample Weighting", NeurIPS 2019): an MLP
//! `1 -> hidden (-> hidden) ... -> 1` with ReLU between layers and a sigmoid
//! output, mapping a per-example loss `[n, 1]` to a weight in (0, 1) `[n, 1]`.
//!
//! Parameters are named `meta_net.{i}.weight` `[out, in]` and
//! `meta_net.{i}.bias` `[out]`, where `i` counts the dense layers from 0.

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use crate::init::{dense_layer, seeded_rng};
use crate::learner::{dense, shape_error, sorted_keys, take, take_shaped};
use crate::{LearnerError, Result};

/// The loss-to-weight network; see the module docs.
pub struct MetaNet {
    params: Vec<Var>,
    names: Vec<String>,
}

impl MetaNet {
    /// Draws a meta-net with `depth` hidden layers of width `hidden` from `seed`.
    /// `depth = 0` gives a single dense layer, `sigmoid(a * loss + b)`.
    pub fn new(hidden: usize, depth: usize, seed: u64) -> Result<Self> {
        if depth > 0 && hidden == 0 {
            return Err(LearnerError::InvalidSize {
                what: "meta-net hidden width",
                expected: "at least 1".into(),
                found: hidden,
            });
        }
        let mut rng = seeded_rng(seed);
        let mut tensors = Vec::with_capacity(2 * (depth + 1));
        let mut inputs = 1;
        for _ in 0..depth {
            let (weight, bias) = dense_layer(&mut rng, inputs, hidden)?;
            tensors.push(weight);
            tensors.push(bias);
            inputs = hidden;
        }
        let (weight, bias) = dense_layer(&mut rng, inputs, 1)?;
        tensors.push(weight);
        tensors.push(bias);
        Self::from_tensors(tensors)
    }

    /// Rebuilds a meta-net from saved `meta_net.{i}.weight`/`bias` tensors; keys
    /// with other prefixes are ignored.
    pub fn from_named(named: &HashMap<String, Tensor>) -> Result<Self> {
        let mut tensors = Vec::new();
        let mut inputs = 1;
        for layer in 0.. {
            let weight_name = format!("meta_net.{layer}.weight");
            if !named.contains_key(&weight_name) {
                break;
            }
            let weight = take(named, &weight_name)?;
            let (outputs, weight_inputs) = weight
                .dims2()
                .map_err(|_| shape_error(&weight_name, &format!("[out, {inputs}]"), &weight))?;
            if weight_inputs != inputs {
                return Err(shape_error(
                    &weight_name,
                    &format!("[out, {inputs}]"),
                    &weight,
                ));
            }
            let bias = take_shaped(named, &format!("meta_net.{layer}.bias"), &[outputs])?;
            tensors.push(weight);
            tensors.push(bias);
            inputs = outputs;
        }
        if tensors.is_empty() {
            return Err(LearnerError::MissingParameter {
                name: "meta_net.0.weight".into(),
                found: sorted_keys(named),
            });
        }
        if inputs != 1 {
            let last = format!("meta_net.{}.weight", tensors.len() / 2 - 1);
            return Err(shape_error(&last, "[1, in]", &tensors[tensors.len() - 2]));
        }
        Self::from_tensors(tensors)
    }

    fn from_tensors(tensors: Vec<Tensor>) -> Result<Self> {
        let names = (0..tensors.len())
            .map(|i| {
                let kind = if i % 2 == 0 { "weight" } else { "bias" };
                format!("meta_net.{}.{kind}", i / 2)
            })
            .collect();
        let params = tensors
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { params, names })
    }

    /// The trainable parameters, weight then bias of each layer in order.
    pub fn parameters(&self) -> &[Var] {
        &self.params
    }

    /// Maps per-example losses `[n, 1]` to weights `[n, 1]` in (0, 1).
    /// The caller detaches the losses, so no gradient reaches the learner.
    pub fn forward(&self, losses: &Tensor) -> Result<Tensor> {
        let layers = self.params.len() / 2;
        let mut hidden = losses.clone();
        for layer in 0..layers {
            let weight = self.params[2 * layer].as_tensor();
            let bias = self.params[2 * layer + 1].as_tensor();
            hidden = dense(&hidden, weight, bias)?;
            if layer + 1 < layers {
                hidden = hidden.relu()?;
            }
        }
        Ok(candle_nn::ops::sigmoid(&hidden)?)
    }

    /// Maps losses `[n]` to weights `[n]`; a shape-convenient [`MetaNet::forward`].
    pub fn weights(&self, losses: &Tensor) -> Result<Tensor> {
        Ok(self.forward(&losses.unsqueeze(1)?)?.squeeze(1)?)
    }

    /// Copies the parameters out as `(name, f32 tensor)` pairs, ready for safetensors.
    pub fn named_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.names
            .iter()
            .zip(&self.params)
            .map(|(name, var)| Ok((name.clone(), var.as_tensor().detach().copy()?)))
            .collect()
    }
}
