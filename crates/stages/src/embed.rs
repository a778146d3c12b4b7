//! Embed body: map every prepared image row to a feature vector.
//!
//! Input: the prepare object's `images` u8 [N, H, W, C].
//! Output: `features` f32 [N, D] with D = [`FEATURES`], same rows as prepare.

use cwerm_config::Stage;
use cwerm_store::Tensor;
use serde_json::json;

use crate::context::{StageContext, StageOutput};
use crate::error::StageError;

/// Version of the embed object layout.
pub const FORMAT_VERSION: u32 = 1;

/// Feature dimension D of the placeholder encoder.
pub const FEATURES: usize = 16;

/// Computes `features` from the prepare object's `images`.
///
/// TODO: placeholder body. Feature d of a row is the mean of `(x - 127) / 128`
/// over the d-th of D equal chunks of the row's bytes. Every encoder setting
/// gets this rule, so the body neither resizes nor runs EfficientNet-Lite0.
pub fn run(context: &StageContext<'_>) -> Result<StageOutput, StageError> {
    let images = context.object(Stage::Prepare)?.tensor("images")?;
    if images.shape.len() != 4 {
        return Err(context.invalid_input(format!(
            "prepare tensor `images` has shape {:?}, expected [N, H, W, C]",
            images.shape
        )));
    }
    let pixels = images.as_u8()?;
    let rows = images.shape[0];
    let row_len = images.shape[1..].iter().product::<usize>();

    let mut features = Vec::with_capacity(rows * FEATURES);
    for row in 0..rows {
        let bytes = &pixels[row * row_len..(row + 1) * row_len];
        for chunk in 0..FEATURES {
            let start = chunk * row_len / FEATURES;
            let end = (chunk + 1) * row_len / FEATURES;
            features.push(chunk_mean(&bytes[start..end]));
        }
    }

    let summary = json!({"rows": rows, "dimensions": FEATURES});
    Ok(StageOutput {
        tensors: vec![Tensor::from_f32(
            "features",
            vec![rows, FEATURES],
            &features,
        )?],
        summary,
    })
}

/// Mean of `(x - 127) / 128` over the bytes, 0 for an empty chunk. The sum is
/// exact in f64 for any chunk below 2^44 bytes, so the result does not depend
/// on summation order.
fn chunk_mean(bytes: &[u8]) -> f32 {
    if bytes.is_empty() {
        return 0.0;
    }
    let sum: u64 = bytes.iter().map(|&x| u64::from(x)).sum();
    let mean = sum as f64 / bytes.len() as f64;
    ((mean - 127.0) / 128.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_mean_scales_pixels() {
        assert_eq!(chunk_mean(&[127, 127]), 0.0);
        assert_eq!(chunk_mean(&[255]), 1.0);
        assert_eq!(chunk_mean(&[]), 0.0);
    }
}
