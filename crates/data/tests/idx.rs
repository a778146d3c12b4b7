//! IDX reader on the real Fashion-MNIST files, on small real IDX folders cut
//! from its test split, and on broken variants of those files.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{config_for, fashion_raw, fetched, samples};
use cwerm_config::DataFormat;
use cwerm_data::{DataError, RawDataset, read, source_files};

/// Decompresses one fetched Fashion-MNIST file.
fn gunzip(name: &str) -> Vec<u8> {
    let file = std::fs::File::open(fetched("fashion-mnist").join(name)).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn idx_header(magic_type: u8, dimensions: &[u32]) -> Vec<u8> {
    let mut header = vec![0, 0, 0x08, magic_type];
    for size in dimensions {
        header.extend(size.to_be_bytes());
    }
    header
}

/// The raw IDX files of a small real data set: the first `train` test images
/// of Fashion-MNIST as its training split and the next `test` as its test split.
struct SmallIdx {
    train_images: Vec<u8>,
    train_labels: Vec<u8>,
    test_images: Vec<u8>,
    test_labels: Vec<u8>,
}

fn small_idx(train: usize, test: usize) -> SmallIdx {
    let images = gunzip("t10k-images-idx3-ubyte.gz");
    let labels = gunzip("t10k-labels-idx1-ubyte.gz");
    let image_file = |range: std::ops::Range<usize>| {
        let mut bytes = idx_header(3, &[range.len() as u32, 28, 28]);
        bytes.extend_from_slice(&images[16 + range.start * 784..16 + range.end * 784]);
        bytes
    };
    let label_file = |range: std::ops::Range<usize>| {
        let mut bytes = idx_header(1, &[range.len() as u32]);
        bytes.extend_from_slice(&labels[8 + range.start..8 + range.end]);
        bytes
    };
    SmallIdx {
        train_images: image_file(0..train),
        train_labels: label_file(0..train),
        test_images: image_file(train..train + test),
        test_labels: label_file(train..train + test),
    }
}

impl SmallIdx {
    /// Writes the four files into `dir`, gzipped when `compress` is set.
    fn write(&self, dir: &Path, compress: bool) {
        let files = [
            ("train-images-idx3-ubyte", &self.train_images),
            ("train-labels-idx1-ubyte", &self.train_labels),
            ("t10k-images-idx3-ubyte", &self.test_images),
            ("t10k-labels-idx1-ubyte", &self.test_labels),
        ];
        for (name, bytes) in files {
            if compress {
                std::fs::write(dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

fn read_idx(dir: &Path) -> Result<RawDataset, DataError> {
    read(&config_for(DataFormat::Idx, dir))
}

#[test]
fn fashion_mnist_has_known_counts_and_shape() {
    // Zalando's Fashion-MNIST README: 60,000 training and 10,000 test images of
    // 28x28 grey pixels, 10 classes, 6,000 and 1,000 per class.
    let raw = fashion_raw();
    assert_eq!(raw.train.len(), 60_000);
    assert_eq!(raw.test.len(), 10_000);
    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (28, 28, 1)
    );
    assert_eq!(raw.train.images.len(), 60_000 * 784);
    assert_eq!(raw.num_classes(), 10);
    for class in 0..10u32 {
        let train = raw
            .train
            .labels
            .iter()
            .filter(|&&label| label == class)
            .count();
        let test = raw
            .test
            .labels
            .iter()
            .filter(|&&label| label == class)
            .count();
        assert_eq!(train, 6_000, "training images of class {class}");
        assert_eq!(test, 1_000, "test images of class {class}");
    }
}

#[test]
fn fashion_mnist_test_split_matches_foolbox_samples() {
    // The foolbox wheel ships the first 20 Fashion-MNIST test images as PNGs,
    // with the label in the file name.
    let raw = fashion_raw();
    for (index, sample) in samples("fashionMNIST").iter().enumerate() {
        assert_eq!(
            raw.test.labels[index], sample.label,
            "label of {}",
            sample.file_name
        );
        assert_eq!(
            raw.test.image(index),
            &sample.pixels[..],
            "pixels of {}",
            sample.file_name
        );
    }
}

#[test]
fn fashion_mnist_source_files_are_the_four_sorted_files() {
    let files = source_files(&common::fashion_config()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
}

#[test]
fn raw_and_gzip_files_read_the_same() {
    let small = small_idx(100, 50);
    let raw_dir = tempfile::tempdir().unwrap();
    let gzip_dir = tempfile::tempdir().unwrap();
    small.write(raw_dir.path(), false);
    small.write(gzip_dir.path(), true);

    let from_raw = read_idx(raw_dir.path()).unwrap();
    let from_gzip = read_idx(gzip_dir.path()).unwrap();
    assert_eq!(from_raw, from_gzip);
    assert_eq!(from_raw.train.len(), 100);
    assert_eq!(from_raw.test.len(), 50);
    assert_eq!(from_raw.train.image(7), fashion_raw().test.image(7));
    assert_eq!(
        from_raw.test.labels[..],
        fashion_raw().test.labels[100..150]
    );
}

#[test]
fn wrong_magic_names_file_and_bytes() {
    let mut small = small_idx(10, 10);
    small.train_images[3] = 0x01;
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), false);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("train-images-idx3-ubyte: invalid IDX magic at offset 0"),
        "{error}"
    );
    assert!(error.contains("expected 00 00 08 03"), "{error}");
    assert!(error.contains("found [00, 00, 08, 01]"), "{error}");
}

#[test]
fn label_file_passed_as_images_is_rejected() {
    let mut small = small_idx(10, 10);
    small.test_labels = small.test_images.clone();
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), true);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("t10k-labels-idx1-ubyte.gz: invalid IDX magic"),
        "{error}"
    );
    assert!(error.contains("expected 00 00 08 01"), "{error}");
}

#[test]
fn truncated_payload_names_offset_and_expected_size() {
    let mut small = small_idx(10, 10);
    small.test_images.truncate(16 + 5 * 784 + 3);
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), false);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    // Header 16 bytes plus 10 images of 784 bytes = 7856 bytes declared.
    assert!(
        error.contains("t10k-images-idx3-ubyte: truncated at offset 3939"),
        "{error}"
    );
    assert!(error.contains("expected 7856 bytes"), "{error}");
}

#[test]
fn truncated_header_is_rejected() {
    let mut small = small_idx(10, 10);
    small.train_labels.truncate(6);
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), true);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("train-labels-idx1-ubyte.gz: truncated at offset 6"),
        "{error}"
    );
    assert!(
        error.contains("expected 8 bytes (1 big-endian u32 dimension sizes)"),
        "{error}"
    );
}

#[test]
fn truncated_gzip_stream_is_rejected() {
    let small = small_idx(100, 10);
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    let compressed = std::fs::read(&path).unwrap();
    std::fs::write(&path, &compressed[..compressed.len() / 2]).unwrap();

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(error.contains("train-images-idx3-ubyte.gz"), "{error}");
    assert!(
        error.contains("failed to decompress gzip data") || error.contains("truncated at offset"),
        "{error}"
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut small = small_idx(10, 10);
    small.train_labels.extend([1, 2, 3]);
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), false);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("train-labels-idx1-ubyte: 21 bytes, expected exactly 18 bytes"),
        "{error}"
    );
}

#[test]
fn label_count_must_equal_image_count() {
    let mut small = small_idx(10, 10);
    small.train_labels = small_idx(9, 10).train_labels;
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), true);

    let error = read_idx(dir.path()).unwrap_err();
    assert!(matches!(
        error,
        DataError::CountMismatch {
            images: 10,
            labels: 9,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("train-labels-idx1-ubyte.gz: 9 labels"),
        "{message}"
    );
    assert!(
        message.contains("train-images-idx3-ubyte.gz (10 images)"),
        "{message}"
    );
}

#[test]
fn hostile_header_is_rejected_before_allocating() {
    // 4,294,967,295^3 bytes overflow u64; 60,000 x 100,000 x 100,000 bytes
    // (600 TB) fit in u64 but exceed the 16 GiB limit.
    for dimensions in [[u32::MAX, u32::MAX, u32::MAX], [60_000, 100_000, 100_000]] {
        let mut small = small_idx(10, 10);
        small.train_images = idx_header(3, &dimensions);
        small.train_images.extend([0u8; 64]);
        let dir = tempfile::tempdir().unwrap();
        small.write(dir.path(), false);

        let error = read_idx(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("train-images-idx3-ubyte: IDX header declares dimensions"),
            "{error}"
        );
        assert!(
            error.contains("exceeds the 17179869184 byte limit"),
            "{error}"
        );
    }
}

#[test]
fn large_but_lying_header_reads_only_the_real_bytes() {
    // 1,000 x 1,000 x 1,000 = 1 GB declared, 7,840 bytes present: the reader
    // reports the truncation without allocating the declared size.
    let mut small = small_idx(10, 10);
    small
        .train_images
        .splice(4..16, idx_header(3, &[1000, 1000, 1000])[4..].to_vec());
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), true);

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("truncated at offset 7856: expected 1000000016 bytes"),
        "{error}"
    );
}

#[test]
fn missing_file_is_a_layout_error() {
    let small = small_idx(10, 10);
    let dir = tempfile::tempdir().unwrap();
    small.write(dir.path(), false);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();

    let error = read_idx(dir.path()).unwrap_err().to_string();
    assert!(error.contains("unknown layout"), "{error}");
    assert!(
        error.contains("`t10k-labels-idx1-ubyte` or `t10k-labels-idx1-ubyte.gz`"),
        "{error}"
    );
}
