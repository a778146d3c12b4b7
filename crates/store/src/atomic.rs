//! Atomic file writes and the cleanup of temp files left by killed writers.
//!
//! A write creates `.<final name>.<pid>.<counter>.tmp` in the target
//! directory, takes an exclusive `flock` on it, writes, fsyncs, renames it to
//! the final name and fsyncs the directory. The lock lives as long as the
//! writer holds the file open, so a temp file that can be locked by someone
//! else belongs to a writer that died, and [`clean_temps`] removes it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;

const TEMP_SUFFIX: &str = ".tmp";

/// How often a write starts over when its temp file was removed under it by
/// a concurrent [`clean_temps`] that ran between the create and the lock.
const WRITE_ATTEMPTS: usize = 3;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `dir/name` atomically, creating `dir` if needed. An
/// existing file of that name is replaced in one rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(StoreError::io("create directory", dir))?;
    let target = dir.join(name);

    let mut attempt = 0;
    loop {
        attempt += 1;
        match write_once(dir, name, &target, bytes) {
            Err(StoreError::Io { source, .. })
                if source.kind() == ErrorKind::NotFound && attempt < WRITE_ATTEMPTS =>
            {
                tracing::debug!(target = %target.display(), "temp file vanished before rename, writing again");
            }
            result => return result,
        }
    }
}

fn write_once(dir: &Path, name: &str, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let (temp_path, file) = create_temp(dir, name)?;
    let result = fill_and_rename(&file, &temp_path, target, bytes);
    if result.is_err() {
        // The temp file is ours and useless now; a failure to remove it only
        // leaves work for the next cleanup.
        let _ = std::fs::remove_file(&temp_path);
    }
    drop(file);
    result?;
    sync_directory(dir)
}

fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File), StoreError> {
    loop {
        let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_path = dir.join(format!(
            ".{name}.{}.{counter}{TEMP_SUFFIX}",
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => {
                file.lock()
                    .map_err(StoreError::io("lock temp file", &temp_path))?;
                return Ok((temp_path, file));
            }
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(StoreError::io("create temp file", &temp_path)(error)),
        }
    }
}

fn fill_and_rename(
    mut file: &File,
    temp_path: &Path,
    target: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    file.write_all(bytes)
        .map_err(StoreError::io("write temp file", temp_path))?;
    file.sync_all()
        .map_err(StoreError::io("fsync temp file", temp_path))?;
    std::fs::rename(temp_path, target).map_err(StoreError::io("rename temp file", temp_path))
}

/// Makes a rename inside `dir` durable.
fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    let handle = File::open(dir).map_err(StoreError::io("open directory", dir))?;
    handle
        .sync_all()
        .map_err(StoreError::io("fsync directory", dir))
}

pub(crate) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// Removes the temp files in `dir` whose writer is gone (no lock held on
/// them) and returns how many it removed. A missing `dir` has none.
pub(crate) fn clean_temps(dir: &Path) -> Result<usize, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(StoreError::io("list directory", dir)(error)),
    };

    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("list directory", dir))?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_temp_name) {
            continue;
        }
        let path = entry.path();
        if remove_if_abandoned(&path)? {
            removed += 1;
        }
    }
    Ok(removed)
}

fn remove_if_abandoned(path: &Path) -> Result<bool, StoreError> {
    let file = match File::open(path) {
        Ok(file) => file,
        // Renamed or removed since the listing: nothing to clean.
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(StoreError::io("open temp file", path)(error)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            tracing::debug!(path = %path.display(), "temp file is locked by a live writer, keeping it");
            return Ok(false);
        }
        Err(TryLockError::Error(error)) => {
            return Err(StoreError::io("lock temp file", path)(error));
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "removed temp file of a dead writer");
            Ok(true)
        }
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => Err(StoreError::io("remove temp file", path)(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_leaves_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        write_atomic(&nested, "x.json", b"{}").unwrap();
        assert_eq!(names_in(&nested), ["x.json"]);
        assert_eq!(std::fs::read(nested.join("x.json")).unwrap(), b"{}");
    }

    #[test]
    fn write_atomic_replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "x", b"old").unwrap();
        write_atomic(dir.path(), "x", b"new").unwrap();
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"new");
        assert_eq!(names_in(dir.path()), ["x"]);
    }

    #[test]
    fn clean_temps_removes_unlocked_temp() {
        let dir = tempfile::tempdir().unwrap();
        // A temp file whose writer was killed: present, not locked by anyone.
        std::fs::write(dir.path().join(".x.safetensors.999.0.tmp"), b"partial").unwrap();
        std::fs::write(dir.path().join("x.safetensors"), b"whole").unwrap();
        assert_eq!(clean_temps(dir.path()).unwrap(), 1);
        assert_eq!(names_in(dir.path()), ["x.safetensors"]);
    }

    #[test]
    fn clean_temps_keeps_locked_temp() {
        let dir = tempfile::tempdir().unwrap();
        let (temp_path, file) = create_temp(dir.path(), "x.safetensors").unwrap();
        assert_eq!(clean_temps(dir.path()).unwrap(), 0);
        assert!(temp_path.exists());
        drop(file);
        assert_eq!(clean_temps(dir.path()).unwrap(), 1);
        assert!(!temp_path.exists());
    }

    #[test]
    fn clean_temps_ignores_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(clean_temps(&dir.path().join("absent")).unwrap(), 0);
        assert!(!dir.path().join("absent").exists());
    }

    #[test]
    fn temp_names_are_recognised() {
        assert!(is_temp_name(".abc.safetensors.12.0.tmp"));
        assert!(!is_temp_name("abc.safetensors"));
        assert!(!is_temp_name("abc.tmp"));
    }
}
