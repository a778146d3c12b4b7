//! The [`Encoder`] trait and its two implementations: EfficientNet-Lite0
//! features and the raw-pixel baseline, built from an `[embed]` config section.
//!
//! Input to every encoder: u8 images `[B, H, W, C]` as one flat slice; output:
//! f32 features `[B, D]`.

use std::path::Path;

use cwerm_config::{EmbedConfig, EncoderKind};

use crate::error::EncoderError;
use crate::fast::FastLite0;
use crate::lite0::{FEATURE_DIM, Lite0Params};
use crate::preprocess::{ImageShape, Resizer, normalize};

/// Smallest accepted input resolution. Lite0 halves the side five times, so 32
/// pixels leave a 1x1 map before the head.
pub const MIN_RESOLUTION: u32 = 32;

/// A frozen image encoder that maps u8 images of one shape to feature vectors.
///
/// Each image's features depend on that image alone, never on the other images
/// of the batch, so any batching gives the same bytes.
pub trait Encoder: Send + Sync {
    /// Feature dimension D.
    fn dim(&self) -> usize;

    /// Shape of the images `embed` accepts.
    fn image_shape(&self) -> ImageShape;

    /// Maps images `[B, H, W, C]` to features `[B, D]`.
    fn embed(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError>;
}

/// Builds the encoder an `[embed]` section describes, for images of `image_shape`.
///
/// Fails when the weights file is missing (naming the fetch command), when the
/// resolution is below [`MIN_RESOLUTION`], or when the images are neither grey nor RGB.
pub fn encoder_from_config(
    config: &EmbedConfig,
    image_shape: ImageShape,
) -> Result<Box<dyn Encoder>, EncoderError> {
    match config.encoder {
        EncoderKind::EfficientnetLite0 => Ok(Box::new(Lite0Encoder::load(
            Path::new(&config.weights),
            config.resolution,
            image_shape,
        )?)),
        EncoderKind::Pixels => Ok(Box::new(PixelsEncoder::new(image_shape)?)),
    }
}

/// EfficientNet-Lite0 features (1280-d) of images resized to a square resolution.
#[derive(Clone, Debug)]
pub struct Lite0Encoder {
    network: FastLite0,
    resizer: Resizer,
    image_shape: ImageShape,
}

impl Lite0Encoder {
    /// Loads the weights from a safetensors file written by the importer.
    pub fn load(
        weights: &Path,
        resolution: u32,
        image_shape: ImageShape,
    ) -> Result<Lite0Encoder, EncoderError> {
        check_resolution(resolution)?;
        Resizer::new(image_shape, resolution as usize)?;
        let params = Lite0Params::load(weights)?;
        Lite0Encoder::from_params(&params, resolution, image_shape)
    }

    /// Builds the encoder from already loaded parameters.
    pub fn from_params(
        params: &Lite0Params,
        resolution: u32,
        image_shape: ImageShape,
    ) -> Result<Lite0Encoder, EncoderError> {
        check_resolution(resolution)?;
        Ok(Lite0Encoder {
            network: FastLite0::new(params),
            resizer: Resizer::new(image_shape, resolution as usize)?,
            image_shape,
        })
    }

    pub fn resolution(&self) -> usize {
        self.resizer.resolution()
    }

    /// The folded network, for callers that preprocess themselves.
    pub fn network(&self) -> &FastLite0 {
        &self.network
    }

    /// Resizes and normalises images `[B, H, W, C]` into `[B, R, R, 3]`.
    pub fn preprocess(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        let count = self.image_shape.count_images(images)?;
        let r = self.resolution();
        let mut input = vec![0.0f32; count * r * r * 3];
        for (image, target) in images
            .chunks_exact(self.image_shape.len())
            .zip(input.chunks_exact_mut(r * r * 3))
        {
            self.resizer.resize_into(image, target);
        }
        Ok(input)
    }

    /// ImageNet logits `[B, 1000]` of images `[B, H, W, C]`.
    pub fn logits(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        let features = self.embed(images)?;
        Ok(self.network.logits(&features))
    }
}

impl Encoder for Lite0Encoder {
    fn dim(&self) -> usize {
        FEATURE_DIM
    }

    fn image_shape(&self) -> ImageShape {
        self.image_shape
    }

    fn embed(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        let input = self.preprocess(images)?;
        Ok(self.network.features(&input, self.resolution()))
    }
}

fn check_resolution(resolution: u32) -> Result<(), EncoderError> {
    if resolution < MIN_RESOLUTION {
        return Err(EncoderError::Resolution {
            resolution,
            minimum: MIN_RESOLUTION,
        });
    }
    Ok(())
}

/// The no-weights baseline: every pixel `(x - 127) / 128`, flattened in
/// `[H, W, C]` order, without resizing.
#[derive(Clone, Debug)]
pub struct PixelsEncoder {
    image_shape: ImageShape,
}

impl PixelsEncoder {
    pub fn new(image_shape: ImageShape) -> Result<PixelsEncoder, EncoderError> {
        image_shape.check_not_empty()?;
        Ok(PixelsEncoder { image_shape })
    }
}

impl Encoder for PixelsEncoder {
    fn dim(&self) -> usize {
        self.image_shape.len()
    }

    fn image_shape(&self) -> ImageShape {
        self.image_shape
    }

    fn embed(&self, images: &[u8]) -> Result<Vec<f32>, EncoderError> {
        self.image_shape.count_images(images)?;
        Ok(images
            .iter()
            .map(|&value| normalize(f32::from(value)))
            .collect())
    }
}
