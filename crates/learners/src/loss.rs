//! Cross-entropy on logits `[N, K]` and class indices `[N]` (u32).
//!
//! The loss picks the target log-probability with a one-hot mask instead of
//! `gather`, because candle 0.11's `gather` backward fails when gradients are
//! kept differentiable (`CANDLE_GRAD_DO_NOT_DETACH`), and the second-order
//! oracle test differentiates through this loss twice.

use candle_core::{D, DType, Tensor};

use crate::Result;

/// Returns the per-example losses `[N]`: `logsumexp(z_i) - z_i[y_i]`.
pub fn per_example_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (_, classes) = logits.dims2()?;

    // The row maximum is a constant shift for stability, so it carries no gradient.
    let shift = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&shift)?;
    let log_norm = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let log_probs = shifted.broadcast_sub(&log_norm)?;

    let class_ids = Tensor::arange(0u32, classes as u32, logits.device())?.unsqueeze(0)?;
    let one_hot = labels
        .to_dtype(DType::U32)?
        .unsqueeze(1)?
        .broadcast_eq(&class_ids)?
        .to_dtype(logits.dtype())?;
    Ok(log_probs.mul(&one_hot)?.sum(D::Minus1)?.neg()?)
}

/// Returns the mean cross-entropy over the batch as a scalar tensor.
pub fn mean_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(per_example_cross_entropy(logits, labels)?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn cross_entropy_matches_hand_values() {
        // torch.nn.functional.cross_entropy(torch.tensor([[1.,2.,3.],[0.,0.,0.]]),
        //     torch.tensor([2,0]), reduction="none") -> [0.40760596, 1.09861229]
        let logits = Tensor::new(&[[1f32, 2., 3.], [0., 0., 0.]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[2u32, 0], &Device::Cpu).unwrap();
        let losses: Vec<f32> = per_example_cross_entropy(&logits, &labels)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!((losses[0] - 0.407_605_96).abs() < 1e-6, "{losses:?}");
        assert!((losses[1] - 1.098_612_3).abs() < 1e-6, "{losses:?}");
    }

    #[test]
    fn cross_entropy_is_stable_for_large_logits() {
        let logits = Tensor::new(&[[1000f32, 0.], [-1000., 1000.]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[0u32, 0], &Device::Cpu).unwrap();
        let losses: Vec<f32> = per_example_cross_entropy(&logits, &labels)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(losses[0], 0.0);
        assert_eq!(losses[1], 2000.0);
    }
}
