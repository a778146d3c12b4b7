//! Shared helpers of the runner end-to-end tests: a fresh temp directory per
//! test with a small IDX data set and a pipeline file, the built binaries,
//! and checks of the store on disk.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

pub const PIPELINE: &str = "pipeline.toml";

/// The test pipeline: the IDX files below `data/fashion`, raw pixels as
/// features, so nothing needs downloaded weights.
pub const PIPELINE_TEXT: &str = r#"name = "smoke"
seed = 0

[prepare]
format = "idx"
path = "data/fashion"
meta_per_class = 1
noise_rate = 0.2

[embed]
encoder = "pixels"
resolution = 32

[select]
method = "moderate"
ratio = 0.5

[reweight]
steps = 20

[train]
epochs = 2
"#;

/// A temp directory holding `data/fashion/*-ubyte` and `pipeline.toml`;
/// commands run with it as the working directory.
pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().expect("create temp dir");
        let workspace = Workspace { dir };
        workspace.write_idx_data("data/fashion", 100);
        workspace.write(PIPELINE, PIPELINE_TEXT);
        workspace
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).expect("write test file");
    }

    /// Rewrites the pipeline with `from` replaced by `to`.
    pub fn edit_pipeline(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path().join(PIPELINE)).unwrap();
        assert!(text.contains(from), "pipeline has no `{from}`");
        self.write(PIPELINE, &text.replacen(from, to, 1));
    }

    /// `cwerm ARGS...` in the workspace, with a clean environment for the store.
    pub fn cwerm(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_cwerm"), args)
    }

    /// `cwerm-<stage> ARGS...` in the workspace.
    pub fn stage(&self, stage: &str, args: &[&str]) -> Output {
        let program = match stage {
            "prepare" => env!("CARGO_BIN_EXE_cwerm-prepare"),
            "embed" => env!("CARGO_BIN_EXE_cwerm-embed"),
            "select" => env!("CARGO_BIN_EXE_cwerm-select"),
            "reweight" => env!("CARGO_BIN_EXE_cwerm-reweight"),
            "train" => env!("CARGO_BIN_EXE_cwerm-train"),
            other => panic!("no stage binary `{other}`"),
        };
        self.command(program, args)
    }

    pub fn command_for(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.path())
            .env_remove("CWERM_ARTIFACTS")
            .env_remove("RUST_LOG");
        command
    }

    fn command(&self, program: &str, args: &[&str]) -> Output {
        self.command_for(program)
            .args(args)
            .output()
            .expect("start binary")
    }

    /// Writes a Fashion-MNIST-shaped IDX set below `folder`: `train_count`
    /// training and 10 test images of 28x28 with labels cycling through the
    /// 10 classes, each image a class-dependent stripe pattern.
    pub fn write_idx_data(&self, folder: &str, train_count: u32) {
        let dir = self.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        for (prefix, count) in [("train", train_count), ("t10k", 10u32)] {
            let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
            let mut images = Vec::new();
            images.extend(0x0000_0803u32.to_be_bytes());
            images.extend(count.to_be_bytes());
            images.extend(28u32.to_be_bytes());
            images.extend(28u32.to_be_bytes());
            for (index, &label) in labels.iter().enumerate() {
                for pixel in 0..28 * 28 {
                    let on = (pixel / 28 + usize::from(label)) % 4 == 0;
                    images.push(if on { 200 + (index % 50) as u8 } else { 10 });
                }
            }
            let mut label_file = Vec::new();
            label_file.extend(0x0000_0801u32.to_be_bytes());
            label_file.extend(count.to_be_bytes());
            label_file.extend(&labels);
            std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
            std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), label_file).unwrap();
        }
    }
}

/// Text of a finished command's stdout.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Text of a finished command's stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Returns the `ran`/`cached`/`missing`/`stale` lines of a command's stdout,
/// without the metrics summary that `cwerm run` prints after them.
pub fn stage_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| {
            let word = line.split_whitespace().next().unwrap_or_default();
            ["ran", "cached", "missing", "stale"].contains(&word)
        })
        .collect()
}

/// `(word, stage)` of each `ran`/`cached`/`missing`/`stale` line.
pub fn stage_words(stdout: &str) -> Vec<(String, String)> {
    stage_lines(stdout)
        .into_iter()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let word = fields.next().unwrap_or_default().to_string();
            let stage = fields.next().unwrap_or_default().to_string();
            (word, stage)
        })
        .collect()
}

pub fn words(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(word, stage)| (word.to_string(), stage.to_string()))
        .collect()
}

/// Lists every file below `root` with its length and modification time.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut files = BTreeMap::new();
    for path in files_below(root) {
        let metadata = std::fs::metadata(&path).unwrap();
        files.insert(path, (metadata.len(), metadata.modified().unwrap()));
    }
    files
}

pub fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Object file name to bytes, for every object in the store at `root`.
pub fn objects(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_below(&root.join("objects"))
        .into_iter()
        .filter(|path| !is_temp(path))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

pub fn is_temp(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Checks whether `path` is a stage record `<key>.json`, not a temp file or a side
/// file `<key>.<kind>.json` (metrics, embed shards).
pub fn is_record(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    !is_temp(path) && name.ends_with(".json") && name.matches('.').count() == 1
}

/// Returns the object path named by `stage`'s only record in the store at `root`.
pub fn object_of(root: &Path, stage: &str) -> PathBuf {
    let records: Vec<PathBuf> = files_below(&root.join("stages").join(stage))
        .into_iter()
        .filter(|path| is_record(path))
        .collect();
    assert_eq!(
        records.len(),
        1,
        "expected one {stage} record, found {records:?}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    let object = record["object"].as_str().unwrap();
    root.join("objects").join(format!("{object}.safetensors"))
}

/// Checks the store invariants: every object's bytes hash to its name, and
/// every record names an object that is present and verifies. Temp files are
/// allowed. Returns the number of (objects, records).
pub fn check_store(root: &Path) -> (usize, usize) {
    let mut object_count = 0;
    for path in files_below(&root.join("objects")) {
        if is_temp(&path) {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(
            name,
            format!("{hash}.safetensors"),
            "object {} does not match its name",
            path.display()
        );
        object_count += 1;
    }

    let mut record_count = 0;
    for path in files_below(&root.join("stages")) {
        let name = path.to_string_lossy().into_owned();
        if is_temp(&path) || name.ends_with(".metrics.json") {
            continue;
        }
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|error| panic!("record {name} is not JSON: {error}"));
        let object = record["object"].as_str().unwrap();
        let object_path = root.join("objects").join(format!("{object}.safetensors"));
        let bytes = std::fs::read(&object_path)
            .unwrap_or_else(|error| panic!("record {name} names a missing object: {error}"));
        assert_eq!(
            blake3::hash(&bytes).to_hex().as_str(),
            object,
            "object of record {name} fails verification"
        );
        record_count += 1;
    }
    (object_count, record_count)
}
