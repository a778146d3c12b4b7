//! Objects: safetensors files whose provenance is one canonical JSON string
//! under the `__metadata__` key [`METADATA_KEY`].
//!
//! safetensors 0.8 writes tensors sorted by descending dtype (its `Dtype` enum
//! is declared in increasing alignment) and then by name. It pads the header
//! with spaces to a multiple of 8 bytes. So the bytes depend only on the
//! tensors and the metadata, never on the order the tensors were passed in.
//! Several metadata keys would be written in `HashMap` order, which is why the
//! provenance is a single key.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::canonical_json;
use crate::digest::Digest;
use crate::error::StoreError;
use crate::tensor::{Dtype, Tensor};

/// The one `__metadata__` key of every cwerm object.
pub const METADATA_KEY: &str = "cwerm";

/// The origin of an object. Its canonical JSON is the object's only metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Stage that wrote the object.
    pub stage: String,
    /// Version of the stage's artifact layout; a change invalidates old keys.
    pub format_version: u32,
    /// The stage's canonical config section, defaults filled in.
    pub config: Value,
    /// The hashes that entered the cache key, by input name.
    pub inputs: BTreeMap<String, Digest>,
    /// The pipeline seed, for stages that draw random numbers.
    pub seed: Option<u64>,
    /// Version of the crate that wrote the object.
    pub crate_version: String,
    /// Stage-specific figures such as the realised noise rate or metrics.
    pub summary: Value,
}

impl Provenance {
    pub fn to_canonical_json(&self) -> String {
        let value = serde_json::to_value(self).expect("provenance is plain JSON data");
        canonical_json(&value)
    }
}

struct TensorBytes<'a>(&'a Tensor);

impl safetensors::View for TensorBytes<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        self.0.dtype.to_safetensors()
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0.data)
    }

    fn data_len(&self) -> usize {
        self.0.data.len()
    }
}

/// Serialises tensors and provenance into the bytes of one object. The same
/// tensors and provenance always give the same bytes, in any input order.
pub fn encode_object(tensors: &[Tensor], provenance: &Provenance) -> Result<Vec<u8>, StoreError> {
    let mut seen = std::collections::BTreeSet::new();
    for tensor in tensors {
        if !seen.insert(tensor.name.as_str()) {
            return Err(StoreError::DuplicateTensor {
                name: tensor.name.clone(),
            });
        }
    }

    let metadata = HashMap::from([(METADATA_KEY.to_string(), provenance.to_canonical_json())]);
    let views = tensors
        .iter()
        .map(|tensor| (tensor.name.as_str(), TensorBytes(tensor)));
    safetensors::serialize(views, Some(metadata)).map_err(|error| StoreError::Encode {
        message: error.to_string(),
    })
}

/// A verified object: its bytes matched its name when it was read.
#[derive(Debug)]
pub struct Object {
    hash: Digest,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Object {
    /// Wraps bytes whose hash the caller has already checked, after checking
    /// that they parse as safetensors with a cwerm provenance.
    pub(crate) fn parse(hash: Digest, path: PathBuf, bytes: Vec<u8>) -> Result<Object, StoreError> {
        let object = Object { hash, path, bytes };
        object.provenance()?;
        Ok(object)
    }

    pub fn hash(&self) -> Digest {
        self.hash
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed safetensors view of the file.
    pub fn safetensors(&self) -> Result<SafeTensors<'_>, StoreError> {
        SafeTensors::deserialize(&self.bytes).map_err(|error| self.invalid(error.to_string()))
    }

    /// Tensor names in file order.
    pub fn tensor_names(&self) -> Result<Vec<String>, StoreError> {
        let (_, metadata) = SafeTensors::read_metadata(&self.bytes)
            .map_err(|error| self.invalid(error.to_string()))?;
        Ok(metadata.offset_keys())
    }

    /// The raw little-endian bytes of one tensor, borrowed from the object.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8], StoreError> {
        let view = self.view(name)?;
        Ok(view.data())
    }

    /// An owned copy of one tensor.
    pub fn tensor(&self, name: &str) -> Result<Tensor, StoreError> {
        let view = self.view(name)?;
        let dtype =
            Dtype::from_safetensors(view.dtype()).ok_or_else(|| StoreError::WrongDtype {
                path: self.path.clone(),
                name: name.to_string(),
                expected: "one of U8, I32, U32, I64, U64, F32, F64".into(),
                found: view.dtype().to_string(),
            })?;
        Tensor::new(name, dtype, view.shape().to_vec(), view.data().to_vec())
    }

    /// The provenance stored under [`METADATA_KEY`].
    pub fn provenance(&self) -> Result<Provenance, StoreError> {
        let (_, metadata) = SafeTensors::read_metadata(&self.bytes)
            .map_err(|error| self.invalid(error.to_string()))?;
        let text = metadata
            .metadata()
            .as_ref()
            .and_then(|entries| entries.get(METADATA_KEY))
            .ok_or_else(|| self.invalid(format!("no `{METADATA_KEY}` key in __metadata__")))?;
        serde_json::from_str(text)
            .map_err(|error| self.invalid(format!("`{METADATA_KEY}` metadata: {error}")))
    }

    fn view(&self, name: &str) -> Result<safetensors::tensor::TensorView<'_>, StoreError> {
        let parsed = self.safetensors()?;
        match parsed.tensor(name) {
            Ok(view) => Ok(view),
            Err(safetensors::SafeTensorError::TensorNotFound(_)) => {
                let mut names: Vec<&str> = parsed.names();
                names.sort();
                Err(StoreError::TensorNotFound {
                    path: self.path.clone(),
                    name: name.to_string(),
                    available: if names.is_empty() {
                        "no tensors".into()
                    } else {
                        names.join(", ")
                    },
                })
            }
            Err(error) => Err(self.invalid(error.to_string())),
        }
    }

    fn invalid(&self, message: String) -> StoreError {
        StoreError::InvalidObject {
            path: self.path.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            stage: "select".into(),
            format_version: 1,
            config: json!({"ratio": 0.01, "method": "moderate"}),
            inputs: BTreeMap::from([
                ("prepare".into(), Digest::of(b"p")),
                ("embed".into(), Digest::of(b"e")),
            ]),
            seed: None,
            crate_version: "0.1.0".into(),
            summary: json!({"kept": 2}),
        }
    }

    fn tensors() -> Vec<Tensor> {
        vec![
            Tensor::from_u32("indices", vec![2], &[3, 9]).unwrap(),
            Tensor::from_f32("scores", vec![3], &[0.5, -1.0, 2.0]).unwrap(),
            Tensor::from_u8("flags", vec![3], vec![1, 0, 1]).unwrap(),
        ]
    }

    fn parse(bytes: Vec<u8>) -> Object {
        let hash = Digest::of(&bytes);
        Object::parse(hash, PathBuf::from("test.safetensors"), bytes).unwrap()
    }

    #[test]
    fn encode_ignores_tensor_order() {
        let forward = encode_object(&tensors(), &provenance()).unwrap();
        let mut reversed = tensors();
        reversed.reverse();
        assert_eq!(encode_object(&reversed, &provenance()).unwrap(), forward);
    }

    #[test]
    fn encode_writes_one_canonical_metadata_key() {
        let bytes = encode_object(&tensors(), &provenance()).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        let expected_metadata = concat!(
            r#"{"config":{"method":"moderate","ratio":0.01},"crate_version":"0.1.0","#,
            r#""format_version":1,"inputs":{"embed":""#
        );
        let header_json: Value = serde_json::from_str(header).unwrap();
        let metadata = header_json["__metadata__"].as_object().unwrap();
        assert_eq!(metadata.len(), 1);
        let text = metadata[METADATA_KEY].as_str().unwrap();
        assert!(text.starts_with(expected_metadata), "{text}");
        assert!(!text.contains(' '), "{text}");
        assert!(
            text.ends_with(r#""seed":null,"stage":"select","summary":{"kept":2}}"#),
            "{text}"
        );
        assert_eq!(header_len % 8, 0);
    }

    #[test]
    fn encode_orders_tensors_by_dtype_then_name() {
        let object = parse(encode_object(&tensors(), &provenance()).unwrap());
        // F32 (largest alignment) first, then U32, then U8.
        assert_eq!(
            object.tensor_names().unwrap(),
            ["scores", "indices", "flags"]
        );
    }

    #[test]
    fn object_round_trips_tensors_and_provenance() {
        let object = parse(encode_object(&tensors(), &provenance()).unwrap());
        assert_eq!(object.provenance().unwrap(), provenance());
        for tensor in tensors() {
            assert_eq!(object.tensor(&tensor.name).unwrap(), tensor);
        }
        assert_eq!(object.tensor_bytes("flags").unwrap(), &[1, 0, 1]);
    }

    #[test]
    fn missing_tensor_lists_available_names() {
        let object = parse(encode_object(&tensors(), &provenance()).unwrap());
        let error = object.tensor("images").unwrap_err();
        assert_eq!(
            error.to_string(),
            "test.safetensors: no tensor `images`; the object holds flags, indices, scores"
        );
    }

    #[test]
    fn duplicate_tensor_names_are_rejected() {
        let mut doubled = tensors();
        doubled.push(Tensor::from_u8("flags", vec![1], vec![0]).unwrap());
        let error = encode_object(&doubled, &provenance()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tensor `flags` appears twice in one object"
        );
    }

    #[test]
    fn object_without_provenance_is_invalid() {
        let bytes = safetensors::serialize(
            [(
                "x",
                TensorBytes(&Tensor::from_u8("x", vec![1], vec![1]).unwrap()),
            )],
            None,
        )
        .unwrap();
        let error = Object::parse(Digest::of(&bytes), "x.safetensors".into(), bytes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.safetensors: invalid safetensors object: no `cwerm` key in __metadata__"
        );
    }
}
