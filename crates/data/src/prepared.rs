//! Re-import of a prepared safetensors artifact written by the prepare stage.
//!
//! Tensors read: `images` u8 `[N, H, W, C]`, `clean_labels` u32 `[N]` and
//! `split` u8 `[N]` (0 train, 1 meta, 2 test). Rows with split 2 form the test
//! split and all other rows the training split, both in file order. The
//! clean labels become the labels, so the observed labels of the artifact are
//! not used.
//!
//! Classes: when a `__metadata__` value is a JSON object with a
//! `class_names` string array, those are the class names (the first such
//! value in key order); otherwise the class
//! count is the largest clean label plus one and the names are the label
//! numbers.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use crate::dataset::{LabelledImages, RawDataset, SPLIT_TEST};
use crate::error::DataError;

/// Reads a prepared artifact back into train and test splits.
pub(crate) fn read_prepared(path: &Path) -> Result<RawDataset, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path, "read safetensors file"))?;
    let invalid = |message: String| DataError::Safetensors {
        path: path.to_path_buf(),
        message,
    };
    let tensors = SafeTensors::deserialize(&bytes).map_err(|error| invalid(error.to_string()))?;
    let (_, metadata) =
        SafeTensors::read_metadata(&bytes).map_err(|error| invalid(error.to_string()))?;

    let images = tensor(path, &tensors, "images", Dtype::U8, 4)?;
    let image_shape = images.shape().to_vec();
    let rows = image_shape[0];
    let clean_labels = tensor(path, &tensors, "clean_labels", Dtype::U32, 1)?;
    let split = tensor(path, &tensors, "split", Dtype::U8, 1)?;
    for (name, view) in [("clean_labels", &clean_labels), ("split", &split)] {
        if view.shape()[0] != rows {
            return Err(DataError::Tensor {
                path: path.to_path_buf(),
                name,
                expected: format!("[{rows}] rows, one per image"),
                found: format!("{:?}", view.shape()),
            });
        }
    }

    let labels: Vec<u32> = clean_labels
        .data()
        .chunks_exact(4)
        .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .collect();
    let class_names = class_names(metadata.metadata(), &labels);
    if let Some((row, &label)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &label)| label as usize >= class_names.len())
    {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            record: row as u64,
            offset: row as u64 * 4,
            kind: "`clean_labels`",
            label: label.into(),
            num_classes: class_names.len() as u64,
        });
    }

    let (height, width, channels) = (image_shape[1], image_shape[2], image_shape[3]);
    let mut train = empty_split(height, width, channels);
    let mut test = empty_split(height, width, channels);
    let image_bytes = height * width * channels;
    for (row, (&split_value, &label)) in split.data().iter().zip(&labels).enumerate() {
        let target = match split_value {
            SPLIT_TEST => &mut test,
            0 | 1 => &mut train,
            other => {
                return Err(DataError::Tensor {
                    path: path.to_path_buf(),
                    name: "split",
                    expected: "values 0 (train), 1 (meta) or 2 (test)".into(),
                    found: format!("{other} at row {row}"),
                });
            }
        };
        target
            .images
            .extend_from_slice(&images.data()[row * image_bytes..(row + 1) * image_bytes]);
        target.labels.push(label);
    }

    Ok(RawDataset {
        train,
        test,
        class_names,
    })
}

fn empty_split(height: usize, width: usize, channels: usize) -> LabelledImages {
    LabelledImages {
        images: Vec::new(),
        labels: Vec::new(),
        height,
        width,
        channels,
    }
}

/// Returns the tensor `name`, checking its dtype and rank.
fn tensor<'data>(
    path: &Path,
    tensors: &SafeTensors<'data>,
    name: &'static str,
    dtype: Dtype,
    rank: usize,
) -> Result<safetensors::tensor::TensorView<'data>, DataError> {
    let view = tensors.tensor(name).map_err(|_| DataError::Tensor {
        path: path.to_path_buf(),
        name,
        expected: format!("a {dtype:?} tensor of rank {rank}"),
        found: "no such tensor".into(),
    })?;
    if view.dtype() != dtype || view.shape().len() != rank {
        return Err(DataError::Tensor {
            path: path.to_path_buf(),
            name,
            expected: format!("a {dtype:?} tensor of rank {rank}"),
            found: format!("{:?} with shape {:?}", view.dtype(), view.shape()),
        });
    }
    Ok(view)
}

/// Class names from the metadata, or the label numbers `0..=max(labels)`.
fn class_names(
    metadata: &Option<std::collections::HashMap<String, String>>,
    labels: &[u32],
) -> Vec<String> {
    let mut entries: Vec<(&String, &String)> = metadata.iter().flatten().collect();
    entries.sort();
    let from_metadata = entries.into_iter().find_map(|(_, value)| {
        let json: serde_json::Value = serde_json::from_str(value).ok()?;
        let names = json.get("class_names")?.as_array()?;
        names
            .iter()
            .map(|name| name.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
    });
    from_metadata.unwrap_or_else(|| {
        let num_classes = labels.iter().max().map_or(0, |&label| label as usize + 1);
        (0..num_classes).map(|class| class.to_string()).collect()
    })
}
