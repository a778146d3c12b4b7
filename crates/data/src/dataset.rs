//! In-memory data sets: what a reader returns and what [`crate::prepare`] returns.
//!
//! Images are u8 pixels in row-major `[N, H, W, C]` order (HWC per image), labels
//! are class indices `u32 [N]`.

use serde::Serialize;

/// Images and labels of one split as a reader returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledImages {
    /// Pixels `[N, H, W, C]`.
    pub images: Vec<u8>,
    /// Class indices `[N]`.
    pub labels: Vec<u32>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl LabelledImages {
    /// Bytes of one image, `H * W * C`.
    pub fn image_bytes(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of row `index`, `[H, W, C]`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.image_bytes();
        &self.images[index * size..(index + 1) * size]
    }
}

/// A data set as read from its source files, before any subset, split or noise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDataset {
    pub train: LabelledImages,
    pub test: LabelledImages,
    /// One name per class; its length is the class count K, and every label is below K.
    pub class_names: Vec<String>,
}

impl RawDataset {
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
}

/// The output of the prepare stage: the kept rows, their split and their labels.
///
/// Rows are the training split (train and meta rows, in reader order) followed
/// by the test split (in reader order).
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Pixels `[N, H, W, C]`.
    pub images: Vec<u8>,
    /// Observed labels `[N]`, after noise.
    pub labels: Vec<u32>,
    /// Labels `[N]` as read, before noise.
    pub clean_labels: Vec<u32>,
    /// Split of each row `[N]`: [`SPLIT_TRAIN`], [`SPLIT_META`] or [`SPLIT_TEST`].
    pub split: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    pub summary: PrepareSummary,
}

impl Prepared {
    /// Row count N.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Returns the shape of `images`, `[N, H, W, C]`.
    pub fn image_shape(&self) -> [usize; 4] {
        [self.len(), self.height, self.width, self.channels]
    }
}

/// A training row whose label may carry noise.
pub const SPLIT_TRAIN: u8 = 0;
/// A trusted meta row, held out of the training split before noise.
pub const SPLIT_META: u8 = 1;
pub const SPLIT_TEST: u8 = 2;

/// Counts that describe a [`Prepared`] data set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PrepareSummary {
    /// Rows with split 0.
    pub train: usize,
    /// Rows with split 1.
    pub meta: usize,
    /// Rows with split 2.
    pub test: usize,
    /// Training rows whose observed label differs from the clean label.
    pub flipped: usize,
    /// `flipped / train`, 0 when there are no training rows.
    pub realised_noise_rate: f64,
    /// Training rows per clean class `[K]`.
    pub train_per_class: Vec<usize>,
    /// Meta rows per class `[K]`.
    pub meta_per_class: Vec<usize>,
    /// Test rows per class `[K]`.
    pub test_per_class: Vec<usize>,
}
