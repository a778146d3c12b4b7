//! The input hashes of each stage's cache key. Inputs are content, never
//! paths:
//!
//! | stage    | inputs, in key order                                              |
//! |----------|-------------------------------------------------------------------|
//! | prepare  | every file the `prepare.format` reader reads, by relative name    |
//! | embed    | `prepare.images` (the tensor's bytes), then `weights` unless the encoder is `pixels` |
//! | select   | `prepare`, `embed` objects                                        |
//! | reweight | `prepare`, `embed`, `select` objects                              |
//! | train    | `prepare`, `embed`, `select`, `reweight` objects                  |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cwerm_config::{EncoderKind, Pipeline, Stage};
use cwerm_store::{Digest, Object, StoreError};

use crate::error::StageError;

/// Name of the embed key input that hashes the prepare object's `images`.
pub const IMAGES_INPUT: &str = "prepare.images";
/// Name of the embed key input that hashes the encoder weights file.
pub const WEIGHTS_INPUT: &str = "weights";

/// One source file that prepare reads.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceFile {
    /// Path relative to `prepare.path` with `/` separators; the file name when
    /// `prepare.path` is a file.
    pub name: String,
    /// Path to open, as resolved from the working directory.
    pub path: PathBuf,
    /// Blake3 of the file's bytes when the key was computed.
    pub hash: Digest,
}

/// Lists and hashes the files that the `prepare.format` reader will read, in
/// the reader's sorted order, each named relative to `prepare.path`.
pub fn source_files(
    pipeline_path: &Path,
    pipeline: &Pipeline,
) -> Result<Vec<SourceFile>, StageError> {
    let root = PathBuf::from(&pipeline.prepare.path);
    let paths = cwerm_data::source_files(&pipeline.prepare).map_err(|error| {
        StageError::InvalidSetting {
            pipeline: pipeline_path.to_path_buf(),
            key: "prepare.path",
            value: format!("{:?}", pipeline.prepare.path),
            message: format!(
                "{error}; relative paths are resolved against the working directory, and \
                 `bash scripts/fetch-data.sh` fetches the default data into data/"
            ),
        }
    })?;

    paths
        .into_iter()
        .map(|path| {
            let name = relative_name(&root, &path);
            let hash = Digest::of_file(&path)?;
            Ok(SourceFile { name, path, hash })
        })
        .collect()
}

/// Names `path` relative to `root` with `/` separators, or by its file name
/// when `root` is the file itself.
fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path
        .strip_prefix(root)
        .ok()
        .filter(|r| !r.as_os_str().is_empty());
    let relative = relative.unwrap_or_else(|| Path::new(path.file_name().unwrap_or_default()));
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Computes the named input hashes of `stage`'s key. `objects` must hold the
/// verified objects of every upstream stage.
pub(crate) fn key_inputs(
    stage: Stage,
    pipeline_path: &Path,
    pipeline: &Pipeline,
    objects: &BTreeMap<Stage, Object>,
    sources: &[SourceFile],
) -> Result<Vec<(String, Digest)>, StageError> {
    match stage {
        Stage::Prepare => Ok(sources
            .iter()
            .map(|source| (source.name.clone(), source.hash))
            .collect()),
        Stage::Embed => {
            let prepare = upstream_object(objects, Stage::Prepare, pipeline_path)?;
            let images = prepare.tensor_bytes("images")?;
            let mut inputs = vec![(IMAGES_INPUT.to_string(), Digest::of(images))];
            if pipeline.embed.encoder != EncoderKind::Pixels {
                inputs.push((
                    WEIGHTS_INPUT.to_string(),
                    weights_hash(pipeline_path, pipeline)?,
                ));
            }
            Ok(inputs)
        }
        Stage::Select | Stage::Reweight | Stage::Train => stage
            .upstream()
            .iter()
            .map(|&upstream| {
                let object = upstream_object(objects, upstream, pipeline_path)?;
                Ok((upstream.name().to_string(), object.hash()))
            })
            .collect(),
    }
}

fn upstream_object<'a>(
    objects: &'a BTreeMap<Stage, Object>,
    stage: Stage,
    pipeline_path: &Path,
) -> Result<&'a Object, StageError> {
    objects
        .get(&stage)
        .ok_or_else(|| StageError::MissingUpstream {
            stage,
            pipeline: pipeline_path.to_path_buf(),
        })
}

fn weights_hash(pipeline_path: &Path, pipeline: &Pipeline) -> Result<Digest, StageError> {
    let path = Path::new(&pipeline.embed.weights);
    Digest::of_file(path).map_err(|error| match error {
        StoreError::Io { source, .. } => StageError::InvalidSetting {
            pipeline: pipeline_path.to_path_buf(),
            key: "embed.weights",
            value: format!("{:?}", pipeline.embed.weights),
            message: format!(
                "{source}; point it at the encoder's safetensors weights, or set `encoder = \"pixels\"`"
            ),
        },
        other => StageError::Store(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_pipeline(path: &Path) -> Pipeline {
        let text = format!(
            "name = \"t\"\n[prepare]\npath = {:?}\n[embed]\nencoder = \"pixels\"\n[select]\n[reweight]\n[train]\n",
            path.to_str().unwrap()
        );
        Pipeline::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn relative_name_uses_slashes() {
        let root = Path::new("/data/set");
        assert_eq!(
            relative_name(root, Path::new("/data/set/train/a.png")),
            "train/a.png"
        );
        assert_eq!(
            relative_name(Path::new("/x/p.safetensors"), Path::new("/x/p.safetensors")),
            "p.safetensors"
        );
    }

    #[test]
    fn missing_source_names_key_and_fetch_script() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent");
        let error = source_files(Path::new("t.toml"), &idx_pipeline(&absent)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "t.toml: invalid value for `prepare.path` ({:?}): ",
                absent.to_str().unwrap()
            )),
            "{text}"
        );
        assert!(text.contains("scripts/fetch-data.sh"), "{text}");
        assert_eq!(error.exit_code(), 2);
    }
}
