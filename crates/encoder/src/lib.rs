//! Frozen image encoders for the embed stage: EfficientNet-Lite0 with ImageNet
//! weights, and a raw-pixel baseline.
//!
//! - [`checkpoint`]: reads torch's legacy checkpoint format and converts it to
//!   safetensors ([`import_weights`]).
//! - [`lite0`]: the architecture table and parameter loading with shape checks.
//! - [`preprocess`]: bilinear resize with half-pixel centres and `(x - 127) / 128`.
//! - [`fast`] and [`kernels`]: the inference path (batch norm folded,
//!   channels-last, gemm and a depthwise kernel); [`reference`]: the same network
//!   in candle ops, the oracle for tests.
//! - [`Encoder`], [`encoder_from_config`]: u8 images `[B, H, W, C]` to f32
//!   features `[B, D]`; [`embed_rows`] and [`shard_rows`]: batched, sharded
//!   embedding with a progress bar.
//!
//! The crate is pure: it reads the weights file it is given and never touches
//! the artifact store.

pub mod checkpoint;
mod encoder;
mod error;
pub mod fast;
pub mod kernels;
pub mod lite0;
pub mod pickle;
pub mod preprocess;
pub mod reference;
mod stream;

pub use checkpoint::{ExpectedCounts, ImportSummary, import_weights, read_legacy_checkpoint};
pub use encoder::{Encoder, Lite0Encoder, MIN_RESOLUTION, PixelsEncoder, encoder_from_config};
pub use error::{EncoderError, FETCH_WEIGHTS_COMMAND};
pub use preprocess::ImageShape;
pub use stream::{Progress, embed_all, embed_rows, embed_rows_into, shard_rows};
