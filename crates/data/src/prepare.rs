//! The prepare entry points: read a data set, then subset, meta hold-out,
//! imbalance and noise, in that order.
//!
//! Subset and imbalance remove rows. The meta hold-out and the noise only
//! mark rows, so changing the noise or its seed keeps every row and its
//! image in place. Output rows are the training split (split 0 and 1) in
//! reader order, then the test split in reader order.

use std::path::{Path, PathBuf};

use cwerm_config::{DataFormat, PrepareConfig};

use crate::cifar::{CifarVariant, cifar_source_files, read_cifar};
use crate::dataset::{
    LabelledImages, PrepareSummary, Prepared, RawDataset, SPLIT_META, SPLIT_TEST, SPLIT_TRAIN,
};
use crate::error::DataError;
use crate::folder::{folder_source_files, read_folder};
use crate::idx::{idx_source_files, read_idx};
use crate::noise::inject_noise;
use crate::prepared::read_prepared;
use crate::rng::{Draws, Stream};
use crate::splits::{ClassContext, apply_imbalance, choose_per_class};

/// Reads the data set and applies the subset, meta hold-out, imbalance and
/// noise that `config` sets.
pub fn prepare(config: &PrepareConfig) -> Result<Prepared, DataError> {
    check_config(config)?;
    let raw = read(config)?;
    prepare_from(&raw, config)
}

/// Lists every file the reader of `config.format` reads, sorted. Their bytes
/// enter the prepare cache key.
pub fn source_files(config: &PrepareConfig) -> Result<Vec<PathBuf>, DataError> {
    let path = Path::new(&config.path);
    require_path(path)?;
    match config.format {
        DataFormat::Idx => idx_source_files(path),
        DataFormat::Cifar10 => cifar_source_files(path, CifarVariant::Cifar10),
        DataFormat::Cifar100 => cifar_source_files(path, CifarVariant::Cifar100(config.label)),
        DataFormat::Folder => folder_source_files(path),
        DataFormat::Safetensors => {
            if path.is_file() {
                Ok(vec![path.to_path_buf()])
            } else {
                Err(DataError::Layout {
                    path: path.to_path_buf(),
                    expected: "a prepared .safetensors file".into(),
                    found: "no such file".into(),
                })
            }
        }
    }
}

/// Fails with "not found" when `path` names nothing, before any reader
/// looks for its layout there.
fn require_path(path: &Path) -> Result<(), DataError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(DataError::io(path, "open the data set path"))
}

/// Reads the train and test splits of the data set that `config` names,
/// with no subset, split or noise applied.
pub fn read(config: &PrepareConfig) -> Result<RawDataset, DataError> {
    let path = Path::new(&config.path);
    require_path(path)?;
    match config.format {
        DataFormat::Idx => read_idx(path),
        DataFormat::Cifar10 => read_cifar(path, CifarVariant::Cifar10),
        DataFormat::Cifar100 => read_cifar(path, CifarVariant::Cifar100(config.label)),
        DataFormat::Folder => read_folder(path, config.resize),
        DataFormat::Safetensors => read_prepared(path),
    }
}

/// Applies the subset, meta hold-out, imbalance and noise of `config` to a
/// data set already read. `config.format`, `path`, `label` and `resize` are
/// not used here.
pub fn prepare_from(raw: &RawDataset, config: &PrepareConfig) -> Result<Prepared, DataError> {
    check_config(config)?;
    check_dataset(raw)?;
    let num_classes = raw.num_classes();
    let class_names = &raw.class_names;
    let train_labels = &raw.train.labels;

    // Subset: a stratified count per class in train and in test.
    let all_train: Vec<usize> = (0..raw.train.len()).collect();
    let all_test: Vec<usize> = (0..raw.test.len()).collect();
    let (train_rows, test_rows) = match config.subset_per_class as usize {
        0 => (all_train, all_test),
        per_class => {
            let context = |split| ClassContext {
                class_names,
                split,
                key: "subset_per_class",
                keep: 0,
            };
            let mut train_draws = Draws::new(config.split_seed, Stream::TrainSubset);
            let mut test_draws = Draws::new(config.split_seed, Stream::TestSubset);
            (
                choose_per_class(
                    train_labels,
                    &all_train,
                    per_class,
                    &context("train"),
                    &mut train_draws,
                )?,
                choose_per_class(
                    &raw.test.labels,
                    &all_test,
                    per_class,
                    &context("test"),
                    &mut test_draws,
                )?,
            )
        }
    };

    // Meta hold-out: trusted and class-balanced, before any noise.
    let meta_context = ClassContext {
        class_names,
        split: "training",
        key: "meta_per_class",
        keep: 1,
    };
    let mut meta_draws = Draws::new(config.split_seed, Stream::MetaHoldOut);
    let meta_rows = choose_per_class(
        train_labels,
        &train_rows,
        config.meta_per_class as usize,
        &meta_context,
        &mut meta_draws,
    )?;
    let mut is_meta = vec![false; raw.train.len()];
    for &row in &meta_rows {
        is_meta[row] = true;
    }

    // Imbalance over the training rows left after the meta hold-out.
    let remaining: Vec<usize> = train_rows
        .iter()
        .copied()
        .filter(|&row| !is_meta[row])
        .collect();
    let mut imbalance_draws = Draws::new(config.split_seed, Stream::Imbalance);
    let kept = apply_imbalance(
        train_labels,
        &remaining,
        num_classes,
        config.imbalance_factor,
        &mut imbalance_draws,
    );
    let mut is_kept = is_meta.clone();
    for &row in &kept {
        is_kept[row] = true;
    }
    let training_rows: Vec<usize> = train_rows.into_iter().filter(|&row| is_kept[row]).collect();

    // Gather the kept rows, then corrupt the labels of split 0.
    let mut prepared = gather(raw, &training_rows, &is_meta, &test_rows);
    let flipped = inject_noise(
        &mut prepared.labels,
        &prepared.split,
        config.noise,
        config.noise_rate,
        num_classes,
        config.noise_seed,
    )?;
    prepared.summary = summarise(&prepared, flipped);
    Ok(prepared)
}

/// Rejects out-of-range values for callers that skip the pipeline file checks.
fn check_config(config: &PrepareConfig) -> Result<(), DataError> {
    if !(0.0..1.0).contains(&config.noise_rate) {
        return Err(DataError::InvalidConfig {
            key: "noise_rate",
            expected: "a rate in [0, 1)",
            found: config.noise_rate.to_string(),
        });
    }
    if !(config.imbalance_factor >= 1.0 && config.imbalance_factor.is_finite()) {
        return Err(DataError::InvalidConfig {
            key: "imbalance_factor",
            expected: "a finite factor >= 1",
            found: config.imbalance_factor.to_string(),
        });
    }
    Ok(())
}

/// Checks that the parts of a data set agree, for data sets built by callers.
fn check_dataset(raw: &RawDataset) -> Result<(), DataError> {
    let (train, test) = (&raw.train, &raw.test);
    if (test.height, test.width, test.channels) != (train.height, train.width, train.channels)
        && !test.is_empty()
    {
        return Err(DataError::InvalidDataset {
            expected: format!(
                "test images of the training shape {}x{}x{}",
                train.height, train.width, train.channels
            ),
            found: format!("{}x{}x{}", test.height, test.width, test.channels),
        });
    }
    for (name, split) in [("train", train), ("test", test)] {
        if split.images.len() != split.len() * split.image_bytes() {
            return Err(DataError::InvalidDataset {
                expected: format!(
                    "{} {name} image bytes ({} labels of {} bytes each)",
                    split.len() * split.image_bytes(),
                    split.len(),
                    split.image_bytes()
                ),
                found: format!("{} bytes", split.images.len()),
            });
        }
        if let Some(label) = split
            .labels
            .iter()
            .find(|&&label| label as usize >= raw.num_classes())
        {
            return Err(DataError::InvalidDataset {
                expected: format!("{name} labels below the class count {}", raw.num_classes()),
                found: format!("label {label}"),
            });
        }
    }
    Ok(())
}

/// Copies the chosen rows into one prepared data set with clean labels.
fn gather(
    raw: &RawDataset,
    training_rows: &[usize],
    is_meta: &[bool],
    test_rows: &[usize],
) -> Prepared {
    let rows = training_rows.len() + test_rows.len();
    let image_bytes = raw.train.image_bytes();
    let mut images = Vec::with_capacity(rows * image_bytes);
    let mut clean_labels = Vec::with_capacity(rows);
    let mut split = Vec::with_capacity(rows);

    let mut push = |source: &LabelledImages, row: usize, split_code: u8| {
        images.extend_from_slice(source.image(row));
        clean_labels.push(source.labels[row]);
        split.push(split_code);
    };
    for &row in training_rows {
        let code = if is_meta[row] {
            SPLIT_META
        } else {
            SPLIT_TRAIN
        };
        push(&raw.train, row, code);
    }
    for &row in test_rows {
        push(&raw.test, row, SPLIT_TEST);
    }

    Prepared {
        images,
        labels: clean_labels.clone(),
        clean_labels,
        split,
        height: raw.train.height,
        width: raw.train.width,
        channels: raw.train.channels,
        num_classes: raw.num_classes(),
        class_names: raw.class_names.clone(),
        summary: PrepareSummary::default(),
    }
}

fn summarise(prepared: &Prepared, flipped: usize) -> PrepareSummary {
    let num_classes = prepared.num_classes;
    let mut per_class = [
        vec![0usize; num_classes],
        vec![0; num_classes],
        vec![0; num_classes],
    ];
    for (&label, &split) in prepared.clean_labels.iter().zip(&prepared.split) {
        per_class[usize::from(split)][label as usize] += 1;
    }
    let [train_per_class, meta_per_class, test_per_class] = per_class;
    let train: usize = train_per_class.iter().sum();
    PrepareSummary {
        train,
        meta: meta_per_class.iter().sum(),
        test: test_per_class.iter().sum(),
        flipped,
        realised_noise_rate: if train == 0 {
            0.0
        } else {
            flipped as f64 / train as f64
        },
        train_per_class,
        meta_per_class,
        test_per_class,
    }
}
