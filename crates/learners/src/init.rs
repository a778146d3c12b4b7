//! Seeded initialisation. `Device::Cpu` has no seed, so the values are drawn
//! from a ChaCha8 generator and the tensor is built from them.
//!
//! The bound follows PyTorch's `nn.Linear` default: both weight and bias are
//! uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Result;

/// Returns the generator used for every initialisation, seeded with `seed`.
pub fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Draws an f32 tensor of `shape` uniform in `[-bound, bound)` from `rng`,
/// filling it in row-major order.
pub fn uniform_tensor(rng: &mut ChaCha8Rng, shape: &[usize], bound: f64) -> Result<Tensor> {
    let count: usize = shape.iter().product();
    let bound = bound as f32;
    let values: Vec<f32> = (0..count)
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// Draws the weight `[out, in]` and bias `[out]` of one dense layer with the
/// PyTorch default bound `1/sqrt(in)`.
pub(crate) fn dense_layer(
    rng: &mut ChaCha8Rng,
    inputs: usize,
    outputs: usize,
) -> Result<(Tensor, Tensor)> {
    let bound = 1.0 / (inputs as f64).sqrt();
    let weight = uniform_tensor(rng, &[outputs, inputs], bound)?;
    let bias = uniform_tensor(rng, &[outputs], bound)?;
    Ok((weight, bias))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_tensor_is_seeded_and_bounded() {
        let a = uniform_tensor(&mut seeded_rng(7), &[4, 5], 0.5).unwrap();
        let b = uniform_tensor(&mut seeded_rng(7), &[4, 5], 0.5).unwrap();
        let c = uniform_tensor(&mut seeded_rng(8), &[4, 5], 0.5).unwrap();
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        let c: Vec<f32> = c.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (-0.5..0.5).contains(v)));
    }
}
