//! Batched embedding of many images with a progress bar, and the row ranges of
//! shards.
//!
//! Input: u8 images `[N, H, W, C]` as one flat slice; output: f32 features
//! `[rows, D]` in row order. Working memory beyond the input and the output is
//! one batch of preprocessed images and features.

use std::io::IsTerminal;
use std::ops::Range;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::encoder::Encoder;
use crate::error::EncoderError;

/// Whether to draw a progress bar on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Draw when stderr is a terminal, stay silent otherwise.
    Auto,
    Hidden,
}

/// Rows `index * N / count .. (index + 1) * N / count` of shard `index` of `count`.
pub fn shard_rows(rows: usize, index: usize, count: usize) -> Result<Range<usize>, EncoderError> {
    if count == 0 || index >= count {
        return Err(EncoderError::Shard { index, count });
    }
    let boundary = |k: usize| (k as u128 * rows as u128 / count as u128) as usize;
    Ok(boundary(index)..boundary(index + 1))
}

/// Embeds every image, `batch_size` at a time; returns `[N, D]`.
pub fn embed_all(
    encoder: &dyn Encoder,
    images: &[u8],
    batch_size: usize,
    progress: Progress,
) -> Result<Vec<f32>, EncoderError> {
    let rows = encoder.image_shape().count_images(images)?;
    embed_rows(encoder, images, 0..rows, batch_size, progress)
}

/// Embeds the images of `rows`; returns `[rows.len(), D]`, byte-identical to
/// the same rows of [`embed_all`].
pub fn embed_rows(
    encoder: &dyn Encoder,
    images: &[u8],
    rows: Range<usize>,
    batch_size: usize,
    progress: Progress,
) -> Result<Vec<f32>, EncoderError> {
    let mut features = Vec::with_capacity(rows.len().saturating_mul(encoder.dim()));
    embed_rows_into(encoder, images, rows, batch_size, progress, |batch| {
        features.extend_from_slice(batch);
        Ok::<(), EncoderError>(())
    })?;
    Ok(features)
}

/// Embeds the images of `rows` batch by batch and hands each batch's features
/// `[B, D]` to `sink`, in row order; memory stays bounded by one batch.
pub fn embed_rows_into<E: From<EncoderError>>(
    encoder: &dyn Encoder,
    images: &[u8],
    rows: Range<usize>,
    batch_size: usize,
    progress: Progress,
    mut sink: impl FnMut(&[f32]) -> Result<(), E>,
) -> Result<(), E> {
    let image_len = encoder.image_shape().len();
    let total = encoder.image_shape().count_images(images)?;
    if batch_size == 0 {
        return Err(EncoderError::BatchSize { batch_size }.into());
    }
    if rows.start > rows.end || rows.end > total {
        return Err(EncoderError::RowRange {
            start: rows.start,
            end: rows.end,
            rows: total,
        }
        .into());
    }

    let bar = progress_bar(rows.len() as u64, progress);
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + batch_size).min(rows.end);
        let features = encoder.embed(&images[start * image_len..end * image_len])?;
        sink(&features)?;
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    Ok(())
}

fn progress_bar(len: u64, progress: Progress) -> ProgressBar {
    let visible = progress == Progress::Auto && std::io::stderr().is_terminal();
    let target = if visible {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let style =
        ProgressStyle::with_template("embed {wide_bar} {pos}/{len} images, {per_sec}, ETA {eta}")
            .expect("the progress template is valid");
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_all_rows_in_order() {
        let ranges: Vec<Range<usize>> = (0..3).map(|k| shard_rows(10, k, 3).unwrap()).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..10]);
    }

    #[test]
    fn shard_index_past_count_is_rejected() {
        let error = shard_rows(10, 3, 3).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid shard 3/3: the count must be at least 1 and the index below it"
        );
    }
}
