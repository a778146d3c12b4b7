//! One serde struct per pipeline section, with every key's default.
//!
//! Each struct rejects unknown keys, and each enum lists its accepted values in
//! the parse error. The canonical JSON of a section (defaults filled in, keys
//! sorted) enters the stage's cache key, so renaming a field or a variant
//! changes every key that contains it.

use serde::{Deserialize, Serialize};

/// `[prepare]`: read a labelled image data set, split it, add noise or imbalance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrepareConfig {
    /// Source format of the data set.
    pub format: DataFormat,
    /// File or folder the reader opens; relative paths are resolved against
    /// the working directory of the command.
    pub path: String,
    /// CIFAR-100 label to read, fine or coarse. The other formats ignore it.
    pub label: Cifar100Label,
    /// Side length in pixels that `folder` images are resized to; 0 keeps
    /// their size and requires all images to share it.
    pub resize: u32,
    /// Stratified count per class kept in train and in test; 0 keeps everything.
    pub subset_per_class: u32,
    /// Trusted, class-balanced meta set held out of the training split before noise.
    pub meta_per_class: u32,
    /// Long-tail factor, at least 1: class c keeps `n_max * factor^(-c/(K-1))` training rows.
    pub imbalance_factor: f64,
    /// Label noise model applied to the training split.
    pub noise: NoiseKind,
    /// Probability that a training label is corrupted, in [0, 1).
    pub noise_rate: f64,
    /// Seed of the subset, the meta hold-out and the imbalance.
    pub split_seed: u64,
    /// Seed of the label noise.
    pub noise_seed: u64,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            format: DataFormat::Idx,
            path: "data/fashion-mnist".into(),
            label: Cifar100Label::Fine,
            resize: 0,
            subset_per_class: 0,
            meta_per_class: 10,
            imbalance_factor: 1.0,
            noise: NoiseKind::Symmetric,
            noise_rate: 0.4,
            split_seed: 0,
            noise_seed: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    Idx,
    Cifar10,
    Cifar100,
    Folder,
    Safetensors,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cifar100Label {
    Fine,
    Coarse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseKind {
    None,
    Symmetric,
    Pair,
}

/// `[embed]`: map every prepared image to a feature vector with a frozen encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    pub encoder: EncoderKind,
    /// Safetensors weights of the encoder; unused by `pixels`.
    pub weights: String,
    /// Square input side in pixels, at least 32.
    pub resolution: u32,
    /// Images per forward pass.
    pub batch_size: u32,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            encoder: EncoderKind::EfficientnetLite0,
            weights: "data/weights/efficientnet-lite0.safetensors".into(),
            resolution: 96,
            batch_size: 64,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    #[serde(rename = "efficientnet-lite0")]
    EfficientnetLite0,
    Pixels,
}

/// `[select]`: choose the coreset that Meta-Weight-Net trains on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectConfig {
    pub method: SelectMethod,
    /// Fraction of each class kept, in (0, 1].
    pub ratio: f64,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self {
            method: SelectMethod::Moderate,
            ratio: 0.01,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectMethod {
    Moderate,
    Random,
    All,
}

/// `[reweight]`: learn per-example weights on the coreset with Meta-Weight-Net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReweightConfig {
    pub method: ReweightMethod,
    pub learner: LearnerKind,
    /// Hidden width of the `mlp` learner.
    pub hidden: u32,
    /// Source of the meta batches.
    pub meta: MetaSource,
    /// Meta-net updates.
    pub steps: u32,
    /// Training batch and meta batch size.
    pub batch_size: u32,
    /// Learner SGD learning rate.
    pub lr: f64,
    pub momentum: f64,
    /// Learner L2 weight decay.
    pub weight_decay: f64,
    /// Adam learning rate of the meta-net.
    pub meta_lr: f64,
    /// L2 term added to the meta-net gradient (PyTorch Adam), not decoupled.
    pub meta_weight_decay: f64,
    /// Hidden width of the meta-net.
    pub meta_hidden: u32,
    /// Hidden layers of the meta-net.
    pub meta_depth: u32,
    /// Reruns with the next seed when the learned weighting grows with the loss.
    pub retries: u32,
}

impl Default for ReweightConfig {
    fn default() -> Self {
        Self {
            method: ReweightMethod::MetaWeightNet,
            learner: LearnerKind::Linear,
            hidden: 256,
            meta: MetaSource::Trusted,
            steps: 3000,
            batch_size: 100,
            // Measured on EfficientNet-Lite0 features (row norms near 61):
            // lr 0.1 makes the learner memorise the coreset or invert the
            // weighting, and weight decay 0.5 gave the lowest meta loss.
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.5,
            meta_lr: 1e-3,
            meta_weight_decay: 1e-4,
            meta_hidden: 100,
            meta_depth: 1,
            retries: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReweightMethod {
    MetaWeightNet,
    Uniform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LearnerKind {
    Linear,
    Mlp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetaSource {
    Trusted,
    Coreset,
}

/// `[train]`: broadcast the coreset weights and train the final classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub on: TrainOn,
    pub broadcast: Broadcast,
    /// Neighbours of the `knn` rule.
    pub k: u32,
    pub normalize: Normalize,
    pub learner: LearnerKind,
    /// Hidden width of the `mlp` learner.
    pub hidden: u32,
    pub epochs: u32,
    pub batch_size: u32,
    /// Initial SGD learning rate, annealed to 0 by a cosine over all steps.
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            on: TrainOn::All,
            broadcast: Broadcast::NearestSameLabel,
            k: 5,
            normalize: Normalize::None,
            learner: LearnerKind::Linear,
            hidden: 256,
            epochs: 30,
            batch_size: 128,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainOn {
    All,
    Coreset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Broadcast {
    Nearest,
    NearestSameLabel,
    Knn,
    MetaNet,
    Constant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalize {
    None,
    BatchSum,
}
