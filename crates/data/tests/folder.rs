//! Image folder reader on the real foolbox sample PNGs and JPEGs laid out as
//! class folders, and its layout and decoding errors.

mod common;

use std::path::Path;

use common::{Sample, config_for, lay_out_class_folders, samples};
use cwerm_config::DataFormat;
use cwerm_data::{DataError, RawDataset, read, source_files};

fn read_folder(root: &Path, resize: u32) -> Result<RawDataset, DataError> {
    let mut config = config_for(DataFormat::Folder, root);
    config.resize = resize;
    read(&config)
}

/// Lays the CIFAR-10 samples out with the first sample of each class in
/// test/ and the others in train/; class folders are named by the label.
/// Returns the train and test samples in the order the reader lists them.
fn cifar10_folder(root: &Path, all: &[Sample]) -> (Vec<usize>, Vec<usize>) {
    let mut seen = std::collections::HashSet::new();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (index, sample) in all.iter().enumerate() {
        if seen.insert(sample.label) {
            test.push(index);
        } else {
            train.push(index);
        }
    }
    let pick = |rows: &[usize]| rows.iter().map(|&row| &all[row]).collect::<Vec<_>>();
    lay_out_class_folders(root, "train", &pick(&train), |label| label.to_string());
    lay_out_class_folders(root, "test", &pick(&test), |label| label.to_string());

    // The reader lists classes in folder order, then files by name. The names
    // start with the sample index, so within a class they keep index order.
    let by_class = |rows: Vec<usize>| {
        let mut rows = rows;
        rows.sort_by_key(|&row| (all[row].label, row));
        rows
    };
    (by_class(train), by_class(test))
}

#[test]
fn cifar10_samples_read_back_with_their_labels() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    let (train_rows, test_rows) = cifar10_folder(temp.path(), &all);

    let raw = read_folder(temp.path(), 0).unwrap();

    // Labels 0, 1, 3, 5, 6, 7, 8, 9 occur in the foolbox CIFAR-10 samples.
    assert_eq!(raw.class_names, ["0", "1", "3", "5", "6", "7", "8", "9"]);
    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (32, 32, 3)
    );
    assert_eq!(raw.train.len(), 12);
    assert_eq!(raw.test.len(), 8);
    for (split, rows) in [(&raw.train, &train_rows), (&raw.test, &test_rows)] {
        for (position, &row) in rows.iter().enumerate() {
            let sample = &all[row];
            let class_name = &raw.class_names[split.labels[position] as usize];
            assert_eq!(
                class_name,
                &sample.label.to_string(),
                "class of {}",
                sample.file_name
            );
            assert_eq!(
                split.image(position),
                &sample.pixels[..],
                "pixels of {}",
                sample.file_name
            );
        }
    }
}

#[test]
fn cifar100_samples_read_back_with_their_labels() {
    let all = samples("cifar100");
    let temp = tempfile::tempdir().unwrap();
    let refs: Vec<&Sample> = all.iter().collect();
    // Most CIFAR-100 labels occur once, so both splits hold every sample.
    lay_out_class_folders(temp.path(), "train", &refs, |label| format!("{label:02}"));
    lay_out_class_folders(temp.path(), "test", &refs, |label| format!("{label:02}"));

    let raw = read_folder(temp.path(), 0).unwrap();

    assert_eq!(
        raw.num_classes(),
        18,
        "20 samples with labels 71 and 92 twice"
    );
    assert_eq!(raw.train.len(), 20);
    for (position, &label) in raw.train.labels.iter().enumerate() {
        let class_name: u32 = raw.class_names[label as usize].parse().unwrap();
        let sample = all
            .iter()
            .find(|sample| sample.label == class_name && sample.pixels == raw.train.image(position))
            .expect("every row is a sample of its class folder");
        assert_eq!(sample.label, class_name);
    }
    assert_eq!(raw.train, raw.test);
}

#[test]
fn grey_images_give_one_channel() {
    let all = samples("fashionMNIST");
    let temp = tempfile::tempdir().unwrap();
    let refs: Vec<&Sample> = all.iter().collect();
    lay_out_class_folders(temp.path(), "train", &refs, |label| label.to_string());
    lay_out_class_folders(temp.path(), "test", &refs, |label| label.to_string());

    let raw = read_folder(temp.path(), 0).unwrap();

    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (28, 28, 1)
    );
    assert_eq!(raw.num_classes(), 10);
    let first_of_class_0 = all.iter().find(|sample| sample.label == 0).unwrap();
    assert_eq!(raw.train.image(0), &first_of_class_0.pixels[..]);
}

#[test]
fn mixed_sizes_are_rejected_without_resize() {
    let fashion = samples("fashionMNIST");
    let cifar = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    lay_out_class_folders(temp.path(), "train", &[&cifar[0], &fashion[0]], |_| {
        "a".into()
    });
    lay_out_class_folders(temp.path(), "test", &[&cifar[1]], |_| "a".into());

    let error = read_folder(temp.path(), 0).unwrap_err().to_string();
    assert!(
        error.contains("fashionMNIST_00_9.png: image shape 28x28, expected 32x32"),
        "{error}"
    );
    assert!(error.contains("set prepare.resize"), "{error}");
}

#[test]
fn resize_mixes_grey_and_rgb_into_rgb() {
    let fashion = samples("fashionMNIST");
    let cifar = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    lay_out_class_folders(temp.path(), "train", &[&cifar[0], &fashion[0]], |_| {
        "a".into()
    });
    lay_out_class_folders(temp.path(), "test", &[&cifar[1]], |_| "a".into());

    let raw = read_folder(temp.path(), 32).unwrap();

    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (32, 32, 3)
    );
    // Row 0 is the CIFAR sample (cifar10_... sorts before fashionMNIST_...) and
    // keeps its pixels at its own size; row 1 is the grey sample, copied to
    // three equal channels.
    assert_eq!(raw.train.image(0), &cifar[0].pixels[..]);
    let grey = raw.train.image(1);
    assert!(
        grey.chunks_exact(3)
            .all(|pixel| pixel[0] == pixel[1] && pixel[1] == pixel[2])
    );
    assert!(
        grey.iter().any(|&value| value > 0),
        "the resized sample is not blank"
    );
}

#[test]
fn jpeg_photos_of_any_size_are_resized() {
    let temp = tempfile::tempdir().unwrap();
    let foolbox = common::fetched("foolbox");
    for (split, names) in [
        ("train", ["imagenet_00_243.jpg", "imagenet_01_559.jpg"]),
        ("test", ["imagenet_02_438.jpg", "imagenet_03_990.jpg"]),
    ] {
        for name in names {
            let class_dir = temp.path().join(split).join("photo");
            std::fs::create_dir_all(&class_dir).unwrap();
            std::fs::copy(foolbox.join(name), class_dir.join(name)).unwrap();
        }
    }

    let raw = read_folder(temp.path(), 48).unwrap();
    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (48, 48, 3)
    );
    assert_eq!(raw.train.images.len(), 2 * 48 * 48 * 3);
    assert_eq!(raw.test.len(), 2);

    let files = source_files(&config_for(DataFormat::Folder, temp.path())).unwrap();
    assert_eq!(files.len(), 4);
    assert!(files.windows(2).all(|pair| pair[0] < pair[1]));
}

#[test]
fn empty_class_folder_is_rejected() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    std::fs::create_dir_all(temp.path().join("train/4")).unwrap();
    std::fs::create_dir_all(temp.path().join("test/4")).unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err();
    assert!(matches!(error, DataError::EmptyClass { .. }));
    let message = error.to_string();
    assert!(
        message.contains("train/4: class folder contains no images"),
        "{message}"
    );
}

#[test]
fn unreadable_image_names_the_file() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    let broken = temp.path().join("train/8/cifar10_02_8.png");
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err();
    assert!(matches!(error, DataError::Image { .. }));
    let message = error.to_string();
    assert!(
        message.contains("cifar10_02_8.png: failed to decode image"),
        "{message}"
    );
}

#[test]
fn missing_test_folder_is_a_layout_error() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    std::fs::remove_dir_all(temp.path().join("test")).unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err().to_string();
    assert!(error.contains("test: unknown layout"), "{error}");
    assert!(error.contains("found no such folder"), "{error}");
}

#[test]
fn image_directly_in_split_folder_is_a_layout_error() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    std::fs::copy(&all[0].path, temp.path().join("train/stray.png")).unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err().to_string();
    assert!(error.contains("train/stray.png: unknown layout"), "{error}");
    assert!(
        error.contains("expected only class sub-folders in the split folder, found a file"),
        "{error}"
    );
}

#[test]
fn different_classes_in_train_and_test_are_rejected() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    std::fs::remove_dir_all(temp.path().join("test/9")).unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err().to_string();
    assert!(
        error.contains("unknown layout: expected the same class folders in train/ and test/"),
        "{error}"
    );
    assert!(error.contains("\"9\"]"), "{error}");
}

#[test]
fn other_files_in_a_class_folder_are_rejected() {
    let all = samples("cifar10");
    let temp = tempfile::tempdir().unwrap();
    cifar10_folder(temp.path(), &all);
    std::fs::write(temp.path().join("train/0/notes.txt"), "not an image").unwrap();

    let error = read_folder(temp.path(), 0).unwrap_err().to_string();
    assert!(
        error.contains("train/0/notes.txt: unknown layout"),
        "{error}"
    );
    assert!(error.contains("expected a PNG or JPEG file"), "{error}");
}
