//! Re-import of a prepared safetensors artifact. A Fashion-MNIST subset is
//! prepared, written with the tensor names of the prepare stage, read back
//! and prepared again. Broken artifacts are rejected.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{config_for, fashion_config, fashion_raw};
use cwerm_config::{DataFormat, NoiseKind, PrepareConfig};
use cwerm_data::{Prepared, SPLIT_META, SPLIT_TEST, prepare, prepare_from, read, source_files};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Prepares a 20-per-class subset with 2 meta rows per class and 40% symmetric noise.
fn small_prepared() -> Prepared {
    prepare_from(
        fashion_raw(),
        &PrepareConfig {
            subset_per_class: 20,
            meta_per_class: 2,
            noise: NoiseKind::Symmetric,
            noise_rate: 0.4,
            ..fashion_config()
        },
    )
    .unwrap()
}

fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Writes `prepared` as the prepare stage does: `images`, `labels`,
/// `clean_labels` and `split`, with optional metadata.
fn write_artifact(path: &Path, prepared: &Prepared, metadata: Option<HashMap<String, String>>) {
    let labels = u32_bytes(&prepared.labels);
    let clean_labels = u32_bytes(&prepared.clean_labels);
    let tensors = [
        (
            "images",
            TensorView::new(Dtype::U8, prepared.image_shape().to_vec(), &prepared.images).unwrap(),
        ),
        (
            "labels",
            TensorView::new(Dtype::U32, vec![prepared.len()], &labels).unwrap(),
        ),
        (
            "clean_labels",
            TensorView::new(Dtype::U32, vec![prepared.len()], &clean_labels).unwrap(),
        ),
        (
            "split",
            TensorView::new(Dtype::U8, vec![prepared.len()], &prepared.split).unwrap(),
        ),
    ];
    std::fs::write(path, safetensors::serialize(tensors, metadata).unwrap()).unwrap();
}

fn reimport_config(path: &Path) -> PrepareConfig {
    config_for(DataFormat::Safetensors, path)
}

#[test]
fn reimport_restores_splits_and_clean_labels() {
    let prepared = small_prepared();
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    write_artifact(&path, &prepared, None);

    let raw = read(&reimport_config(&path)).unwrap();

    // 20 per class in train (18 train + 2 meta) and 20 per class in test.
    assert_eq!(raw.train.len(), 200);
    assert_eq!(raw.test.len(), 200);
    assert_eq!(
        raw.class_names,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    assert_eq!(
        (raw.train.height, raw.train.width, raw.train.channels),
        (28, 28, 1)
    );
    assert_eq!(raw.train.labels[..], prepared.clean_labels[..200]);
    assert_eq!(raw.test.labels[..], prepared.clean_labels[200..]);
    assert_eq!(raw.train.images[..], prepared.images[..200 * 784]);
    assert_eq!(source_files(&reimport_config(&path)).unwrap(), vec![path]);
}

#[test]
fn reimport_applies_meta_and_noise_again() {
    let prepared = small_prepared();
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    write_artifact(&path, &prepared, None);

    let again = prepare(&PrepareConfig {
        meta_per_class: 5,
        noise: NoiseKind::Pair,
        noise_rate: 0.2,
        ..reimport_config(&path)
    })
    .unwrap();

    assert_eq!(again.len(), 400);
    assert_eq!(again.summary.meta_per_class, vec![5; 10]);
    assert_eq!(again.summary.train, 150);
    assert_eq!(again.summary.test, 200);
    assert_eq!(again.clean_labels, prepared.clean_labels);
    assert_eq!(again.images, prepared.images);
    for row in 0..again.len() {
        let (clean, observed) = (again.clean_labels[row], again.labels[row]);
        if again.split[row] == SPLIT_META || again.split[row] == SPLIT_TEST {
            assert_eq!(observed, clean);
        } else {
            assert!(observed == clean || observed == (clean + 1) % 10);
        }
    }
}

#[test]
fn reimport_reads_class_names_from_metadata() {
    let prepared = small_prepared();
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    let names: Vec<String> = (0..10).map(|class| format!("class-{class}")).collect();
    let provenance = serde_json::json!({ "stage": "prepare", "class_names": names });
    let metadata = HashMap::from([("cwerm".to_string(), provenance.to_string())]);
    write_artifact(&path, &prepared, Some(metadata));

    let raw = read(&reimport_config(&path)).unwrap();
    assert_eq!(raw.class_names, names);
}

#[test]
fn reimport_rejects_a_label_beyond_the_class_names() {
    let mut prepared = small_prepared();
    prepared.clean_labels[7] = 10;
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    let names: Vec<String> = (0..10).map(|class| class.to_string()).collect();
    let provenance = serde_json::json!({ "class_names": names });
    write_artifact(
        &path,
        &prepared,
        Some(HashMap::from([("cwerm".into(), provenance.to_string())])),
    );

    let error = read(&reimport_config(&path)).unwrap_err().to_string();
    assert!(
        error.contains("prepared.safetensors: record 7 (offset 28): label 10 out of range"),
        "{error}"
    );
    assert!(error.contains("`clean_labels` label below 10"), "{error}");
}

#[test]
fn reimport_rejects_an_unknown_split_value() {
    let mut prepared = small_prepared();
    prepared.split[12] = 3;
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    write_artifact(&path, &prepared, None);

    let error = read(&reimport_config(&path)).unwrap_err().to_string();
    assert!(
        error.contains(
            "tensor `split`: expected values 0 (train), 1 (meta) or 2 (test), found 3 at row 12"
        ),
        "{error}"
    );
}

#[test]
fn reimport_rejects_missing_or_mistyped_tensors() {
    let prepared = small_prepared();
    let temp = tempfile::tempdir().unwrap();

    let path = temp.path().join("no-split.safetensors");
    let clean_labels = u32_bytes(&prepared.clean_labels);
    let tensors = [
        (
            "images",
            TensorView::new(Dtype::U8, prepared.image_shape().to_vec(), &prepared.images).unwrap(),
        ),
        (
            "clean_labels",
            TensorView::new(Dtype::U32, vec![prepared.len()], &clean_labels).unwrap(),
        ),
    ];
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let error = read(&reimport_config(&path)).unwrap_err().to_string();
    assert!(
        error.contains("tensor `split`: expected a U8 tensor of rank 1, found no such tensor"),
        "{error}"
    );

    let path = temp.path().join("i32-labels.safetensors");
    let tensors = [
        (
            "images",
            TensorView::new(Dtype::U8, prepared.image_shape().to_vec(), &prepared.images).unwrap(),
        ),
        (
            "clean_labels",
            TensorView::new(Dtype::I32, vec![prepared.len()], &clean_labels).unwrap(),
        ),
        (
            "split",
            TensorView::new(Dtype::U8, vec![prepared.len()], &prepared.split).unwrap(),
        ),
    ];
    std::fs::write(&path, safetensors::serialize(tensors, None).unwrap()).unwrap();
    let error = read(&reimport_config(&path)).unwrap_err().to_string();
    assert!(
        error.contains(
            "tensor `clean_labels`: expected a U32 tensor of rank 1, found I32 with shape [400]"
        ),
        "{error}"
    );
}

#[test]
fn reimport_rejects_a_file_that_is_not_safetensors() {
    let temp = tempfile::tempdir().unwrap();
    let path = temp.path().join("prepared.safetensors");
    std::fs::write(&path, b"not a safetensors file").unwrap();

    let error = read(&reimport_config(&path)).unwrap_err().to_string();
    assert!(
        error.contains("prepared.safetensors: invalid prepared safetensors file"),
        "{error}"
    );

    let missing = temp.path().join("absent.safetensors");
    let error = source_files(&reimport_config(&missing))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("absent.safetensors: failed to open the data set path"),
        "{error}"
    );
}
