//! The store root and its reads and writes.
//!
//! Example, for a store at `artifacts/` and a prepare run whose cache key
//! starts with `9c1e` and whose object starts with `3f2a`:
//!
//! ```text
//! artifacts/objects/3f2a...64 hex digits....safetensors
//! artifacts/stages/prepare/9c1e...64 hex digits....json
//! ```
//!
//! Nothing is created on disk until the first write, so a command that fails
//! before writing leaves no store directory behind.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::atomic::{clean_temps, write_atomic};
use crate::digest::Digest;
use crate::error::StoreError;
use crate::object::Object;
use crate::record::StageRecord;

/// Environment variable that names the store root when `--artifacts` is absent.
pub const ARTIFACTS_ENV: &str = "CWERM_ARTIFACTS";

/// Store root used when neither `--artifacts` nor [`ARTIFACTS_ENV`] is set.
pub const DEFAULT_ROOT: &str = "artifacts";

const OBJECTS_DIR: &str = "objects";
const STAGES_DIR: &str = "stages";
const OBJECT_EXTENSION: &str = "safetensors";

/// A content-addressed store rooted at one directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Creates a handle on the store at `root` without reading or creating anything.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Opens the store at `flag` if given, else at `$CWERM_ARTIFACTS` if set
    /// and non-empty, else at `./artifacts`.
    pub fn from_flag_or_env(flag: Option<&Path>) -> Store {
        if let Some(root) = flag {
            return Store::new(root);
        }
        match std::env::var_os(ARTIFACTS_ENV) {
            Some(root) if !root.is_empty() => Store::new(root),
            _ => Store::new(DEFAULT_ROOT),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_path(&self, hash: &Digest) -> PathBuf {
        self.objects_dir()
            .join(format!("{hash}.{OBJECT_EXTENSION}"))
    }

    pub fn record_path(&self, stage: &str, key: &Digest) -> PathBuf {
        self.stage_dir(stage).join(format!("{key}.json"))
    }

    /// `stages/<stage>/<key>.<kind>.json`, for files that sit beside a record.
    pub fn side_file_path(&self, stage: &str, key: &Digest, kind: &str) -> PathBuf {
        self.stage_dir(stage).join(format!("{key}.{kind}.json"))
    }

    /// Stores object bytes under their blake3 digest and returns it. An
    /// object that is already present and verifies is left untouched; one
    /// that fails verification is replaced.
    pub fn put_object(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let hash = Digest::of(bytes);
        let path = self.object_path(&hash);

        match Digest::of_file(&path) {
            Ok(found) if found == hash => {
                tracing::debug!(object = %hash, "object already stored, not rewriting it");
                return Ok(hash);
            }
            Ok(found) => {
                tracing::debug!(object = %hash, %found, "stored object fails verification, replacing it");
            }
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            }
            Err(error) => return Err(error),
        }

        write_atomic(
            &self.objects_dir(),
            &format!("{hash}.{OBJECT_EXTENSION}"),
            bytes,
        )?;
        Ok(hash)
    }

    /// Reads an object and checks its bytes against its name before anyone
    /// can use them.
    pub fn read_object(&self, hash: &Digest) -> Result<Object, StoreError> {
        let path = self.object_path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::ObjectMissing { path });
            }
            Err(error) => return Err(StoreError::io("read object", &path)(error)),
        };

        let found = Digest::of(&bytes);
        if found != *hash {
            return Err(StoreError::HashMismatch {
                path,
                expected: *hash,
                found,
            });
        }
        Object::parse(*hash, path, bytes)
    }

    /// Writes a stage record. The object it names must already be stored.
    pub fn write_record(&self, record: &StageRecord) -> Result<(), StoreError> {
        let path = self.record_path(&record.stage, &record.key);
        if !self.object_path(&record.object).is_file() {
            return Err(StoreError::RecordWithoutObject {
                path,
                object: record.object,
            });
        }
        let mut text = serde_json::to_string_pretty(record).expect("a record is plain JSON data");
        text.push('\n');
        write_atomic(
            &self.stage_dir(&record.stage),
            &format!("{}.json", record.key),
            text.as_bytes(),
        )
    }

    /// Reads the record of `stage` for `key`; `None` when there is none.
    pub fn read_record(
        &self,
        stage: &str,
        key: &Digest,
    ) -> Result<Option<StageRecord>, StoreError> {
        let path = self.record_path(stage, key);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(StoreError::io("read record", &path)(error)),
        };

        let record: StageRecord =
            serde_json::from_str(&text).map_err(|error| StoreError::InvalidRecord {
                path: path.clone(),
                message: error.to_string(),
            })?;
        if record.stage != stage || record.key != *key {
            return Err(StoreError::InvalidRecord {
                path,
                message: format!(
                    "it describes stage `{}` with key {}, expected stage `{stage}` with key {key}",
                    record.stage, record.key
                ),
            });
        }
        Ok(Some(record))
    }

    /// Writes `stages/<stage>/<key>.<kind>.json` atomically, pretty-printed.
    pub fn write_side_file(
        &self,
        stage: &str,
        key: &Digest,
        kind: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        let mut text = serde_json::to_string_pretty(value).expect("a JSON value always serialises");
        text.push('\n');
        write_atomic(
            &self.stage_dir(stage),
            &format!("{key}.{kind}.json"),
            text.as_bytes(),
        )
    }

    /// Removes temp files left by killed writers in `objects/` and in
    /// `stages/<stage>/` for each given stage, and returns how many it removed.
    /// Temp files of live writers are kept.
    pub fn clean_temps(&self, stages: &[&str]) -> Result<usize, StoreError> {
        let mut removed = clean_temps(&self.objects_dir())?;
        for stage in stages {
            removed += clean_temps(&self.stage_dir(stage))?;
        }
        Ok(removed)
    }

    fn objects_dir(&self) -> PathBuf {
        self.root.join(OBJECTS_DIR)
    }

    fn stage_dir(&self, stage: &str) -> PathBuf {
        self.root.join(STAGES_DIR).join(stage)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::object::{Provenance, encode_object};
    use crate::tensor::Tensor;

    fn object_bytes(marker: u8) -> Vec<u8> {
        let provenance = Provenance {
            stage: "prepare".into(),
            format_version: 1,
            config: json!({}),
            inputs: BTreeMap::new(),
            seed: None,
            crate_version: "0.1.0".into(),
            summary: json!({}),
        };
        let tensor = Tensor::from_u8("images", vec![4], vec![marker; 4]).unwrap();
        encode_object(&[tensor], &provenance).unwrap()
    }

    fn record(object: Digest) -> StageRecord {
        StageRecord {
            stage: "prepare".into(),
            key: Digest::of(b"key"),
            object,
            inputs: BTreeMap::new(),
            config: json!({}),
            seed: None,
            format_version: 1,
            crate_version: "0.1.0".into(),
            wall_seconds: 0.5,
        }
    }

    #[test]
    fn store_creates_nothing_until_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("artifacts"));
        assert!(
            store
                .read_record("prepare", &Digest::of(b"k"))
                .unwrap()
                .is_none()
        );
        assert!(store.read_object(&Digest::of(b"o")).is_err());
        assert_eq!(store.clean_temps(&["prepare"]).unwrap(), 0);
        assert!(!store.root().exists());
    }

    #[test]
    fn put_object_names_file_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let bytes = object_bytes(1);
        let hash = store.put_object(&bytes).unwrap();
        assert_eq!(hash, Digest::of(&bytes));
        assert_eq!(std::fs::read(store.object_path(&hash)).unwrap(), bytes);
        let object = store.read_object(&hash).unwrap();
        assert_eq!(object.tensor("images").unwrap().data, [1; 4]);
    }

    #[test]
    fn put_object_keeps_existing_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = store.put_object(&object_bytes(2)).unwrap();
        let path = store.object_path(&hash);
        let old_time =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old_time)
            .unwrap();

        assert_eq!(store.put_object(&object_bytes(2)).unwrap(), hash);
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            old_time
        );
    }

    #[test]
    fn flipped_byte_fails_verification() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let bytes = object_bytes(3);
        let hash = store.put_object(&bytes).unwrap();
        let path = store.object_path(&hash);
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();

        let error = store.read_object(&hash).unwrap_err();
        let expected = format!(
            "{}: content hash is {}, but the file name says {hash}",
            path.display(),
            Digest::of(&flipped)
        );
        assert_eq!(error.to_string(), expected);

        // Storing the right bytes again repairs the object.
        store.put_object(&bytes).unwrap();
        assert!(store.read_object(&hash).is_ok());
    }

    #[test]
    fn missing_object_is_reported_with_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = Digest::of(b"absent");
        let error = store.read_object(&hash).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{}: object not found", store.object_path(&hash).display())
        );
    }

    #[test]
    fn record_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = store.put_object(&object_bytes(4)).unwrap();
        let record = record(hash);
        store.write_record(&record).unwrap();
        let read = store.read_record("prepare", &record.key).unwrap().unwrap();
        assert_eq!(read, record);
    }

    #[test]
    fn record_requires_its_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let record = record(Digest::of(b"never stored"));
        let error = store.write_record(&record).unwrap_err();
        assert!(
            error.to_string().contains("which is not in the store"),
            "{error}"
        );
        assert!(!store.record_path("prepare", &record.key).exists());
    }

    #[test]
    fn invalid_record_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let key = Digest::of(b"key");
        let path = store.record_path("prepare", &key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{\"stage\": ").unwrap();
        let error = store.read_record("prepare", &key).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: invalid stage record: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn clean_temps_covers_objects_and_stage_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = store.put_object(&object_bytes(5)).unwrap();
        store.write_record(&record(hash)).unwrap();
        let object_temp = dir.path().join("objects/.abc.safetensors.1.0.tmp");
        let record_temp = dir.path().join("stages/prepare/.abc.json.1.0.tmp");
        std::fs::write(&object_temp, b"part").unwrap();
        std::fs::write(&record_temp, b"part").unwrap();

        assert_eq!(store.clean_temps(&["prepare", "embed"]).unwrap(), 2);
        assert!(!object_temp.exists());
        assert!(!record_temp.exists());
        assert!(store.read_object(&hash).is_ok());
    }
}
