//! Shared helpers of the integration tests: paths of the fetched real data,
//! a cached read of Fashion-MNIST, and fixture builders that lay the real
//! foolbox sample PNGs out as class folders or pack them into the CIFAR
//! binary layouts.
//!
//! Files under `data/` come from `scripts/fetch-data.sh`; a test that needs
//! them fails with a message naming the script when they are missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cwerm_config::{DataFormat, NoiseKind, PrepareConfig};
use cwerm_data::RawDataset;

/// Returns `data/<relative>` of the repository, failing the test when it is missing.
pub fn fetched(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(relative);
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-data.sh from the repository root to fetch the test data",
        path.display()
    );
    path
}

/// Builds a config that reads the full Fashion-MNIST with no meta set and no noise.
pub fn fashion_config() -> PrepareConfig {
    PrepareConfig {
        format: DataFormat::Idx,
        path: fetched("fashion-mnist").to_string_lossy().into_owned(),
        meta_per_class: 0,
        noise: NoiseKind::None,
        noise_rate: 0.0,
        ..PrepareConfig::default()
    }
}

/// Fashion-MNIST as read once per test binary.
pub fn fashion_raw() -> &'static RawDataset {
    static RAW: OnceLock<RawDataset> = OnceLock::new();
    RAW.get_or_init(|| cwerm_data::read(&fashion_config()).expect("Fashion-MNIST reads"))
}

/// One foolbox sample image: `<prefix>_<index>_<label>.png`.
pub struct Sample {
    pub path: PathBuf,
    pub file_name: String,
    pub label: u32,
    /// Decoded pixels `[H, W, C]`, RGB for CIFAR samples and grey for (Fashion-)MNIST.
    pub pixels: Vec<u8>,
    pub height: usize,
    pub width: usize,
}

/// Decodes the foolbox samples whose names start with `<prefix>_`, in index order.
pub fn samples(prefix: &str) -> Vec<Sample> {
    let folder = fetched("foolbox");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&format!("{prefix}_")) else {
            continue;
        };
        let stem = rest
            .strip_suffix(".png")
            .expect("foolbox samples are PNG files");
        let (index, label) = stem.split_once('_').unwrap();
        let (index, label): (u32, u32) = (index.parse().unwrap(), label.parse().unwrap());
        let image = image::open(&path).unwrap();
        let (width, height) = (image.width() as usize, image.height() as usize);
        let pixels = if image.color().has_color() {
            image.into_rgb8().into_raw()
        } else {
            image.into_luma8().into_raw()
        };
        found.push((
            index,
            Sample {
                path,
                file_name,
                label,
                pixels,
                height,
                width,
            },
        ));
    }
    found.sort_by_key(|(index, _)| *index);
    assert_eq!(
        found.len(),
        20,
        "expected 20 `{prefix}_*.png` foolbox samples"
    );
    found.into_iter().map(|(_, sample)| sample).collect()
}

/// Copies `samples` into `root/<split>/<class folder>/<file name>`.
pub fn lay_out_class_folders(
    root: &Path,
    split: &str,
    samples: &[&Sample],
    folder_of: impl Fn(u32) -> String,
) {
    for sample in samples {
        let class_dir = root.join(split).join(folder_of(sample.label));
        std::fs::create_dir_all(&class_dir).unwrap();
        std::fs::copy(&sample.path, class_dir.join(&sample.file_name)).unwrap();
    }
}

/// Converts an HWC 32x32x3 image to the channel-major planes of a CIFAR record.
pub fn to_planes(pixels: &[u8]) -> Vec<u8> {
    assert_eq!(
        pixels.len(),
        32 * 32 * 3,
        "CIFAR records hold 32x32 RGB images"
    );
    let mut planes = vec![0u8; pixels.len()];
    for pixel in 0..1024 {
        for channel in 0..3 {
            planes[channel * 1024 + pixel] = pixels[pixel * 3 + channel];
        }
    }
    planes
}

/// CIFAR-10 records: one label byte and the image planes.
pub fn cifar10_records(samples: &[&Sample]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for sample in samples {
        bytes.push(sample.label as u8);
        bytes.extend(to_planes(&sample.pixels));
    }
    bytes
}

/// Returns the coarse byte the CIFAR-100 fixture writes. The foolbox file
/// names carry only the fine label, so the fixture derives a stand-in coarse
/// label below 20 from it. It is not the real CIFAR-100 superclass.
pub fn fixture_coarse_label(fine: u32) -> u32 {
    fine / 5
}

/// CIFAR-100 records: coarse byte, fine byte and the image planes.
pub fn cifar100_records(samples: &[&Sample]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for sample in samples {
        bytes.push(fixture_coarse_label(sample.label) as u8);
        bytes.push(sample.label as u8);
        bytes.extend(to_planes(&sample.pixels));
    }
    bytes
}

/// Packs the 20 CIFAR-10 samples into `dir`: three per training batch
/// (`data_batch_1.bin` .. `data_batch_5.bin`, samples 0-14 in order) and
/// samples 15-19 in `test_batch.bin`. Returns the train and test samples.
pub fn write_cifar10(dir: &Path, all: &[Sample]) -> (Vec<usize>, Vec<usize>) {
    std::fs::create_dir_all(dir).unwrap();
    let refs: Vec<&Sample> = all.iter().collect();
    for batch in 0..5 {
        let records = cifar10_records(&refs[batch * 3..batch * 3 + 3]);
        std::fs::write(dir.join(format!("data_batch_{}.bin", batch + 1)), records).unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar10_records(&refs[15..])).unwrap();
    ((0..15).collect(), (15..20).collect())
}

/// Packs the 20 CIFAR-100 samples into `dir`: samples 0-14 in `train.bin`,
/// samples 15-19 in `test.bin`.
pub fn write_cifar100(dir: &Path, all: &[Sample]) {
    std::fs::create_dir_all(dir).unwrap();
    let refs: Vec<&Sample> = all.iter().collect();
    std::fs::write(dir.join("train.bin"), cifar100_records(&refs[..15])).unwrap();
    std::fs::write(dir.join("test.bin"), cifar100_records(&refs[15..])).unwrap();
}

/// Builds a config of `format` that reads `path`, with no meta set and no noise.
pub fn config_for(format: DataFormat, path: &Path) -> PrepareConfig {
    PrepareConfig {
        format,
        path: path.to_string_lossy().into_owned(),
        meta_per_class: 0,
        noise: NoiseKind::None,
        noise_rate: 0.0,
        ..PrepareConfig::default()
    }
}
