//! CIFAR-10 and CIFAR-100 binary readers, on fixtures packed from the real
//! foolbox CIFAR sample PNGs, and their errors on truncated or lying files.

mod common;

use std::path::Path;

use common::{Sample, config_for, fixture_coarse_label, samples, write_cifar10, write_cifar100};
use cwerm_config::{Cifar100Label, DataFormat};
use cwerm_data::{DataError, RawDataset, read, source_files};

fn read_cifar10(dir: &Path) -> Result<RawDataset, DataError> {
    read(&config_for(DataFormat::Cifar10, dir))
}

fn read_cifar100(dir: &Path, label: Cifar100Label) -> Result<RawDataset, DataError> {
    let mut config = config_for(DataFormat::Cifar100, dir);
    config.label = label;
    read(&config)
}

fn concatenated_pixels(all: &[Sample], rows: std::ops::Range<usize>) -> Vec<u8> {
    all[rows]
        .iter()
        .flat_map(|sample| sample.pixels.clone())
        .collect()
}

#[test]
fn cifar10_round_trips_the_foolbox_samples() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);

    let raw = read_cifar10(temp.path()).unwrap();

    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (32, 32, 3)
    );
    let train_labels: Vec<u32> = all[..15].iter().map(|sample| sample.label).collect();
    let test_labels: Vec<u32> = all[15..].iter().map(|sample| sample.label).collect();
    assert_eq!(raw.train.labels, train_labels);
    assert_eq!(raw.test.labels, test_labels);
    assert_eq!(raw.train.images, concatenated_pixels(&all, 0..15));
    assert_eq!(raw.test.images, concatenated_pixels(&all, 15..20));
    assert_eq!(raw.num_classes(), 10);
    assert_eq!(raw.class_names[3], "3");
}

#[test]
fn cifar10_accepts_the_standard_folder_and_names_file() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    let nested = temp.path().join("cifar-10-batches-bin");
    write_cifar10(&nested, &all);
    // The released batches.meta.txt lists the ten names, then a blank line.
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    std::fs::write(nested.join("batches.meta.txt"), names).unwrap();

    let raw = read_cifar10(temp.path()).unwrap();
    assert_eq!(raw.class_names[0], "airplane");
    assert_eq!(raw.class_names[9], "truck");
    assert_eq!(raw.train.len(), 15);

    let files = source_files(&config_for(DataFormat::Cifar10, temp.path())).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "batches.meta.txt",
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
            "test_batch.bin"
        ]
    );
}

#[test]
fn cifar100_reads_fine_and_coarse_labels() {
    let all = samples("cifar100");
    let temp = tempfile::tempdir().unwrap();
    write_cifar100(&temp.path().join("cifar-100-binary"), &all);

    let fine = read_cifar100(temp.path(), Cifar100Label::Fine).unwrap();
    let expected_fine: Vec<u32> = all[..15].iter().map(|sample| sample.label).collect();
    assert_eq!(fine.train.labels, expected_fine);
    assert_eq!(fine.num_classes(), 100);
    assert_eq!(fine.train.images, concatenated_pixels(&all, 0..15));
    assert_eq!(fine.test.images, concatenated_pixels(&all, 15..20));

    let coarse = read_cifar100(temp.path(), Cifar100Label::Coarse).unwrap();
    let expected_coarse: Vec<u32> = all[15..]
        .iter()
        .map(|sample| fixture_coarse_label(sample.label))
        .collect();
    assert_eq!(coarse.test.labels, expected_coarse);
    assert_eq!(coarse.num_classes(), 20);
    assert_eq!(coarse.train.images, fine.train.images);
}

#[test]
fn truncated_record_is_rejected_with_its_size() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);
    let batch = temp.path().join("data_batch_3.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..bytes.len() - 100]).unwrap();

    let error = read_cifar10(temp.path()).unwrap_err().to_string();
    // 3 records of 3073 bytes, less 100 bytes = 9119.
    assert!(error.contains("data_batch_3.bin"), "{error}");
    assert!(error.contains("size 9119 bytes"), "{error}");
    assert!(error.contains("3073 byte record"), "{error}");
}

#[test]
fn empty_file_is_rejected() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);
    std::fs::write(temp.path().join("test_batch.bin"), b"").unwrap();

    let error = read_cifar10(temp.path()).unwrap_err().to_string();
    assert!(error.contains("test_batch.bin"), "{error}");
    assert!(
        error.contains("size 0 bytes is not a positive multiple"),
        "{error}"
    );
}

#[test]
fn cifar10_label_out_of_range_names_record_and_offset() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);
    let batch = temp.path().join("data_batch_2.bin");
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes[2 * 3073] = 10;
    std::fs::write(&batch, bytes).unwrap();

    let error = read_cifar10(temp.path()).unwrap_err();
    assert!(matches!(
        error,
        DataError::LabelOutOfRange {
            record: 2,
            offset: 6146,
            label: 10,
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("data_batch_2.bin"), "{message}");
    assert!(
        message.contains("record 2 (offset 6146): label 10 out of range"),
        "{message}"
    );
    assert!(message.contains("below 10"), "{message}");
}

#[test]
fn cifar100_label_out_of_range_is_checked_for_both_bytes() {
    let all = samples("cifar100");
    let temp = tempfile::tempdir().unwrap();
    write_cifar100(temp.path(), &all);
    let train = temp.path().join("train.bin");
    let original = std::fs::read(&train).unwrap();

    // Record 1, fine byte at offset 3074 + 1.
    let mut bytes = original.clone();
    bytes[3074 + 1] = 100;
    std::fs::write(&train, &bytes).unwrap();
    let error = read_cifar100(temp.path(), Cifar100Label::Coarse)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("record 1 (offset 3075): label 100 out of range"),
        "{error}"
    );
    assert!(error.contains("CIFAR-100 fine label below 100"), "{error}");

    // Record 0, coarse byte at offset 0.
    let mut bytes = original;
    bytes[0] = 20;
    std::fs::write(&train, &bytes).unwrap();
    let error = read_cifar100(temp.path(), Cifar100Label::Fine)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("record 0 (offset 0): label 20 out of range"),
        "{error}"
    );
    assert!(error.contains("CIFAR-100 coarse label below 20"), "{error}");
}

#[test]
fn cifar10_file_of_cifar100_records_is_rejected() {
    // A CIFAR-100 record is one byte longer, so 15 of them are not a whole
    // number of 3073 byte records.
    let all = samples("cifar100");
    let temp = tempfile::tempdir().unwrap();
    let refs: Vec<&Sample> = all.iter().collect();
    for batch in 1..=5 {
        std::fs::write(
            temp.path().join(format!("data_batch_{batch}.bin")),
            common::cifar100_records(&refs[..15]),
        )
        .unwrap();
    }
    std::fs::write(
        temp.path().join("test_batch.bin"),
        common::cifar100_records(&refs[15..]),
    )
    .unwrap();

    let error = read_cifar10(temp.path()).unwrap_err().to_string();
    assert!(
        error.contains("data_batch_1.bin: size 46110 bytes"),
        "{error}"
    );
}

#[test]
fn missing_batch_is_a_layout_error() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);
    std::fs::remove_file(temp.path().join("data_batch_4.bin")).unwrap();

    let error = read_cifar10(temp.path()).unwrap_err().to_string();
    assert!(error.contains("unknown layout"), "{error}");
    assert!(error.contains("data_batch_4.bin missing"), "{error}");
}

#[test]
fn folder_without_cifar_files_is_a_layout_error() {
    let temp = tempfile::tempdir().unwrap();
    let error = read_cifar100(temp.path(), Cifar100Label::Fine)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown layout"), "{error}");
    assert!(
        error.contains("`train.bin` in this folder or in its sub-folder `cifar-100-binary`"),
        "{error}"
    );
}

#[test]
fn names_file_with_wrong_count_is_rejected() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    write_cifar10(temp.path(), &all);
    std::fs::write(
        temp.path().join("batches.meta.txt"),
        "airplane\nautomobile\n",
    )
    .unwrap();

    let error = read_cifar10(temp.path()).unwrap_err().to_string();
    assert!(error.contains("batches.meta.txt"), "{error}");
    assert!(
        error.contains("expected 10 class names, one per line, found 2 non-empty lines"),
        "{error}"
    );
}
