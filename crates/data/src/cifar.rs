//! Readers for the binary versions of CIFAR-10 and CIFAR-100.
//!
//! Format (A. Krizhevsky's CIFAR page): a file is a sequence of records with
//! no header. A CIFAR-10 record is 1 label byte and 3072 pixel bytes. A
//! CIFAR-100 record is 1 coarse label byte, 1 fine label byte and 3072 pixel
//! bytes. The pixels are a 32x32 image in channel-major order (1024 red, then
//! 1024 green, then 1024 blue bytes, each plane row-major); the reader returns
//! them as `[N, 32, 32, 3]` (HWC).
//!
//! Files: CIFAR-10 `data_batch_1.bin` .. `data_batch_5.bin` (training split, in
//! that order) and `test_batch.bin`; CIFAR-100 `train.bin` and `test.bin`.
//! `path` is the folder holding them, or its parent when the folder has the
//! standard name `cifar-10-batches-bin` or `cifar-100-binary`. The released
//! files hold 10,000 (CIFAR-10) or 50,000 and 10,000 (CIFAR-100) records, but
//! any positive whole number of records is accepted.
//!
//! Class names come from `batches.meta.txt` (CIFAR-10) or
//! `fine_label_names.txt` / `coarse_label_names.txt` (CIFAR-100), one name
//! per line, when the file is present; otherwise the names are the label
//! numbers.

use std::path::{Path, PathBuf};

use cwerm_config::Cifar100Label;

use crate::dataset::{LabelledImages, RawDataset};
use crate::error::DataError;

const SIDE: usize = 32;
const PLANE_BYTES: usize = SIDE * SIDE;
const IMAGE_BYTES: usize = 3 * PLANE_BYTES;

/// The CIFAR variant of a folder, with the label that is read for CIFAR-100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CifarVariant {
    Cifar10,
    Cifar100(Cifar100Label),
}

impl CifarVariant {
    fn standard_folder(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "cifar-10-batches-bin",
            CifarVariant::Cifar100(_) => "cifar-100-binary",
        }
    }

    fn train_files(self) -> Vec<String> {
        match self {
            CifarVariant::Cifar10 => (1..=5)
                .map(|batch| format!("data_batch_{batch}.bin"))
                .collect(),
            CifarVariant::Cifar100(_) => vec!["train.bin".into()],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "test_batch.bin",
            CifarVariant::Cifar100(_) => "test.bin",
        }
    }

    fn names_file(self) -> &'static str {
        match self {
            CifarVariant::Cifar10 => "batches.meta.txt",
            CifarVariant::Cifar100(Cifar100Label::Fine) => "fine_label_names.txt",
            CifarVariant::Cifar100(Cifar100Label::Coarse) => "coarse_label_names.txt",
        }
    }

    fn num_classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100(Cifar100Label::Fine) => 100,
            CifarVariant::Cifar100(Cifar100Label::Coarse) => 20,
        }
    }

    /// Label bytes before the pixels of a record.
    fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100(_) => 2,
        }
    }
}

/// The resolved files of one CIFAR folder.
struct CifarFiles {
    train: Vec<PathBuf>,
    test: PathBuf,
    names: Option<PathBuf>,
}

/// Lists every file that [`read_cifar`] reads, sorted.
pub(crate) fn cifar_source_files(
    folder: &Path,
    variant: CifarVariant,
) -> Result<Vec<PathBuf>, DataError> {
    let files = locate(folder, variant)?;
    let mut paths = files.train;
    paths.push(files.test);
    paths.extend(files.names);
    paths.sort();
    Ok(paths)
}

/// Reads the train and test splits of the CIFAR folder at `folder`.
pub(crate) fn read_cifar(folder: &Path, variant: CifarVariant) -> Result<RawDataset, DataError> {
    let files = locate(folder, variant)?;

    let mut train = empty_split();
    for path in &files.train {
        read_records(path, variant, &mut train)?;
    }
    let mut test = empty_split();
    read_records(&files.test, variant, &mut test)?;

    let class_names = match &files.names {
        Some(path) => read_class_names(path, variant.num_classes())?,
        None => (0..variant.num_classes())
            .map(|class| class.to_string())
            .collect(),
    };
    Ok(RawDataset {
        train,
        test,
        class_names,
    })
}

fn empty_split() -> LabelledImages {
    LabelledImages {
        images: Vec::new(),
        labels: Vec::new(),
        height: SIDE,
        width: SIDE,
        channels: 3,
    }
}

/// Finds the data files in `folder` or in its standard-named sub-folder.
fn locate(folder: &Path, variant: CifarVariant) -> Result<CifarFiles, DataError> {
    let train_names = variant.train_files();
    let nested = folder.join(variant.standard_folder());
    let directory = if folder.join(&train_names[0]).is_file() {
        folder.to_path_buf()
    } else if nested.join(&train_names[0]).is_file() {
        nested
    } else {
        return Err(DataError::Layout {
            path: folder.to_path_buf(),
            expected: format!(
                "`{}` in this folder or in its sub-folder `{}`",
                train_names[0],
                variant.standard_folder()
            ),
            found: "neither".into(),
        });
    };

    let mut required: Vec<&str> = train_names.iter().map(String::as_str).collect();
    required.push(variant.test_file());
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|name| !directory.join(name).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::Layout {
            path: directory,
            expected: format!("the files {}", required.join(", ")),
            found: format!("{} missing", missing.join(", ")),
        });
    }

    let names = directory.join(variant.names_file());
    Ok(CifarFiles {
        train: train_names
            .iter()
            .map(|name| directory.join(name))
            .collect(),
        test: directory.join(variant.test_file()),
        names: names.is_file().then_some(names),
    })
}

/// Appends the records of one file to `split`.
fn read_records(
    path: &Path,
    variant: CifarVariant,
    split: &mut LabelledImages,
) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path, "read CIFAR file"))?;
    let label_bytes = variant.label_bytes();
    let record_bytes = label_bytes + IMAGE_BYTES;
    if bytes.is_empty() || bytes.len() % record_bytes != 0 {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record_bytes: record_bytes as u64,
        });
    }

    let records = bytes.len() / record_bytes;
    split.images.reserve(records * IMAGE_BYTES);
    split.labels.reserve(records);
    for (index, record) in bytes.chunks_exact(record_bytes).enumerate() {
        let offset = (index * record_bytes) as u64;
        let label = record_label(path, variant, index as u64, offset, record)?;
        split.labels.push(label);
        push_hwc(&record[label_bytes..], &mut split.images);
    }
    Ok(())
}

/// Checks every label byte of a record and returns the one the variant uses.
fn record_label(
    path: &Path,
    variant: CifarVariant,
    record: u64,
    offset: u64,
    bytes: &[u8],
) -> Result<u32, DataError> {
    let check = |label: u8, kind: &'static str, num_classes: u64, byte: u64| {
        if u64::from(label) < num_classes {
            Ok(u32::from(label))
        } else {
            Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                record,
                offset: offset + byte,
                kind,
                label: label.into(),
                num_classes,
            })
        }
    };
    match variant {
        CifarVariant::Cifar10 => check(bytes[0], "CIFAR-10", 10, 0),
        CifarVariant::Cifar100(which) => {
            let coarse = check(bytes[0], "CIFAR-100 coarse", 20, 0)?;
            let fine = check(bytes[1], "CIFAR-100 fine", 100, 1)?;
            Ok(match which {
                Cifar100Label::Coarse => coarse,
                Cifar100Label::Fine => fine,
            })
        }
    }
}

/// Converts one channel-major 32x32x3 image to HWC and appends it.
fn push_hwc(planes: &[u8], images: &mut Vec<u8>) {
    let (red, rest) = planes.split_at(PLANE_BYTES);
    let (green, blue) = rest.split_at(PLANE_BYTES);
    for pixel in 0..PLANE_BYTES {
        images.extend_from_slice(&[red[pixel], green[pixel], blue[pixel]]);
    }
}

/// Reads one class name per non-empty line; the count must equal `num_classes`.
fn read_class_names(path: &Path, num_classes: usize) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(DataError::io(path, "read class names"))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(String::from)
        .collect();
    if names.len() != num_classes {
        return Err(DataError::Layout {
            path: path.to_path_buf(),
            expected: format!("{num_classes} class names, one per line"),
            found: format!("{} non-empty lines", names.len()),
        });
    }
    Ok(names)
}
