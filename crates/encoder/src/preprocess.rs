//! Preprocessing of u8 images `[H, W, C]` into network input: bilinear resize
//! with half-pixel centres (PyTorch `interpolate(mode="bilinear",
//! align_corners=False)` without antialiasing, edges clamped), computed in f32
//! with no rounding back to u8, grey copied to three channels, then
//! `(x - 127) / 128`.
//!
//! Output is channels-last `[R, R, 3]` for the fast network, or `[N, 3, R, R]`
//! for the candle reference network.

use crate::error::EncoderError;

/// Subtracted from every pixel value before scaling.
pub const PIXEL_OFFSET: f32 = 127.0;
/// Divides every pixel value after the offset.
pub const PIXEL_SCALE: f32 = 128.0;

/// Height, width and channels of one u8 image stored `[H, W, C]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageShape {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl ImageShape {
    pub fn new(height: usize, width: usize, channels: usize) -> ImageShape {
        ImageShape {
            height,
            width,
            channels,
        }
    }

    /// Bytes of one image.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks that every side is at least 1.
    pub fn check_not_empty(&self) -> Result<(), EncoderError> {
        if self.is_empty() {
            return Err(EncoderError::EmptyImage {
                height: self.height,
                width: self.width,
                channels: self.channels,
            });
        }
        Ok(())
    }

    /// Checks that `bytes` contains a whole number of images and returns that number.
    pub fn count_images(&self, bytes: &[u8]) -> Result<usize, EncoderError> {
        self.check_not_empty()?;
        if !bytes.len().is_multiple_of(self.len()) {
            return Err(EncoderError::ImageBuffer {
                len: bytes.len(),
                height: self.height,
                width: self.width,
                channels: self.channels,
            });
        }
        Ok(bytes.len() / self.len())
    }
}

/// Scales one pixel value: `(x - 127) / 128`.
pub fn normalize(value: f32) -> f32 {
    (value - PIXEL_OFFSET) / PIXEL_SCALE
}

/// For each output coordinate along one axis: the two source indices and their weights.
#[derive(Clone, Debug)]
struct AxisTaps {
    low: Vec<usize>,
    high: Vec<usize>,
    high_weight: Vec<f32>,
}

/// Half-pixel source coordinates: `src = (dst + 0.5) * in / out - 0.5`, clamped
/// below at 0; the upper neighbour is clamped to the last pixel.
fn axis_taps(input: usize, output: usize) -> AxisTaps {
    let scale = input as f32 / output as f32;
    let mut taps = AxisTaps {
        low: Vec::with_capacity(output),
        high: Vec::with_capacity(output),
        high_weight: Vec::with_capacity(output),
    };
    for dst in 0..output {
        let src = ((dst as f32 + 0.5) * scale - 0.5).max(0.0);
        let low = (src as usize).min(input - 1);
        let high = (low + 1).min(input - 1);
        taps.low.push(low);
        taps.high.push(high);
        taps.high_weight.push(src - low as f32);
    }
    taps
}

/// Precomputed resize of `[H, W, C]` u8 images to normalised `[R, R, 3]` f32.
#[derive(Clone, Debug)]
pub struct Resizer {
    shape: ImageShape,
    resolution: usize,
    rows: AxisTaps,
    columns: AxisTaps,
}

impl Resizer {
    /// Prepares the resize; images must be grey or RGB and not empty.
    pub fn new(shape: ImageShape, resolution: usize) -> Result<Resizer, EncoderError> {
        shape.check_not_empty()?;
        if shape.channels != 1 && shape.channels != 3 {
            return Err(EncoderError::Channels {
                channels: shape.channels,
            });
        }
        Ok(Resizer {
            shape,
            resolution,
            rows: axis_taps(shape.height, resolution),
            columns: axis_taps(shape.width, resolution),
        })
    }

    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// Resizes and normalises one image `[H, W, C]` into `out`, `[R, R, 3]`.
    pub fn resize_into(&self, image: &[u8], out: &mut [f32]) {
        let ImageShape {
            width, channels, ..
        } = self.shape;
        let r = self.resolution;
        assert_eq!(image.len(), self.shape.len(), "image length");
        assert_eq!(out.len(), r * r * 3, "output length");

        for y in 0..r {
            let (y0, y1, wy) = (
                self.rows.low[y],
                self.rows.high[y],
                self.rows.high_weight[y],
            );
            for x in 0..r {
                let (x0, x1, wx) = (
                    self.columns.low[x],
                    self.columns.high[x],
                    self.columns.high_weight[x],
                );
                let pixel = &mut out[(y * r + x) * 3..(y * r + x) * 3 + 3];
                for (c, value) in pixel.iter_mut().enumerate() {
                    let channel = if channels == 1 { 0 } else { c };
                    let at = |row: usize, column: usize| {
                        f32::from(image[(row * width + column) * channels + channel])
                    };
                    let top = (1.0 - wx) * at(y0, x0) + wx * at(y0, x1);
                    let bottom = (1.0 - wx) * at(y1, x0) + wx * at(y1, x1);
                    *value = normalize((1.0 - wy) * top + wy * bottom);
                }
            }
        }
    }
}

/// Resizes and normalises a batch `[N, H, W, C]` into `[N, 3, R, R]`, the
/// layout of the candle reference network.
pub fn preprocess_nchw(
    images: &[u8],
    shape: ImageShape,
    resolution: usize,
) -> Result<Vec<f32>, EncoderError> {
    let resizer = Resizer::new(shape, resolution)?;
    let count = shape.count_images(images)?;
    let plane = resolution * resolution;
    let mut channels_last = vec![0.0f32; plane * 3];
    let mut out = vec![0.0f32; count * 3 * plane];
    for (image, target) in images
        .chunks_exact(shape.len())
        .zip(out.chunks_exact_mut(3 * plane))
    {
        resizer.resize_into(image, &mut channels_last);
        for (index, pixel) in channels_last.chunks_exact(3).enumerate() {
            for (c, &value) in pixel.iter().enumerate() {
                target[c * plane + index] = value;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_resize_only_normalises() {
        let image: Vec<u8> = (0..16).map(|v| v * 16).collect();
        let resizer = Resizer::new(ImageShape::new(4, 4, 1), 4).unwrap();
        let mut out = vec![0.0; 48];
        resizer.resize_into(&image, &mut out);
        for (index, &value) in image.iter().enumerate() {
            let expected = (f32::from(value) - 127.0) / 128.0;
            assert_eq!(out[index * 3], expected);
            assert_eq!(out[index * 3 + 2], expected);
        }
    }

    #[test]
    fn upscale_by_two_interpolates_quarters() {
        // 1x2 image [0, 128] to 2x4: source x = (dst + 0.5) / 2 - 0.5 gives
        // 0 (clamped), 0.25, 0.75, 1.25 -> clamped neighbour, so 0, 32, 96, 128.
        let resizer = Resizer::new(ImageShape::new(1, 2, 1), 4).unwrap();
        let mut out = vec![0.0; 48];
        resizer.resize_into(&[0, 128], &mut out);
        let row: Vec<f32> = (0..4).map(|x| out[x * 3] * 128.0 + 127.0).collect();
        assert_eq!(row, vec![0.0, 32.0, 96.0, 128.0]);
    }

    #[test]
    fn four_channel_images_are_rejected() {
        let error = Resizer::new(ImageShape::new(2, 2, 4), 32).unwrap_err();
        assert!(error.to_string().contains("4 channels"), "{error}");
    }
}
