//! Bilinear resize of one u8 image, `[H, W, C]` in and `[H', W', C]` out.
//!
//! Sampling uses half-pixel centres (PyTorch's `align_corners=False`): output
//! pixel x reads the source at `(x + 0.5) * W / W' - 0.5`, clamped to the
//! image, so edges repeat. There is no antialiasing filter when shrinking.
//! Interpolation runs in f32 and each output value is rounded to the nearest
//! integer (half away from zero).

/// Resizes `pixels` (`[height, width, channels]`) to `[new_height, new_width, channels]`.
pub(crate) fn resize_bilinear(
    pixels: &[u8],
    height: usize,
    width: usize,
    channels: usize,
    new_height: usize,
    new_width: usize,
) -> Vec<u8> {
    let rows = sample_positions(height, new_height);
    let columns = sample_positions(width, new_width);

    let mut output = Vec::with_capacity(new_height * new_width * channels);
    for &(y0, y1, fy) in &rows {
        for &(x0, x1, fx) in &columns {
            for channel in 0..channels {
                let at =
                    |y: usize, x: usize| f32::from(pixels[(y * width + x) * channels + channel]);
                let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
                let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
                let value = top + (bottom - top) * fy;
                output.push(value.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    output
}

/// For each output index: the two source indices and the weight of the second.
fn sample_positions(source: usize, target: usize) -> Vec<(usize, usize, f32)> {
    let scale = source as f32 / target as f32;
    let last = source - 1;
    (0..target)
        .map(|index| {
            let position = ((index as f32 + 0.5) * scale - 0.5).clamp(0.0, last as f32);
            let low = position.floor() as usize;
            let high = (low + 1).min(last);
            (low, high, position - low as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_identity() {
        let pixels: Vec<u8> = (0..2 * 3 * 3).map(|value| value as u8 * 13).collect();
        assert_eq!(resize_bilinear(&pixels, 2, 3, 3, 2, 3), pixels);
    }

    #[test]
    fn doubling_interpolates_between_neighbours() {
        // Source row [0, 100]; output x = 0..4 samples at -0.25, 0.25, 0.75, 1.25,
        // clamped to 0, 0.25, 0.75, 1 -> 0, 25, 75, 100.
        let output = resize_bilinear(&[0, 100], 1, 2, 1, 1, 4);
        assert_eq!(output, vec![0, 25, 75, 100]);
    }

    #[test]
    fn halving_averages_pixel_pairs() {
        // Output x = 0 samples at 0.5, between source pixels 0 and 1.
        let output = resize_bilinear(&[10, 20, 30, 41], 1, 4, 1, 1, 2);
        assert_eq!(output, vec![15, 36]);
    }
}
