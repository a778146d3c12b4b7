//! The files of a comparison folder: `results.md`, `results.csv`, `runs.csv`,
//! one derived pipeline file per method and seed, and the SVG plots
//! `weights-<method>.svg` and `weight-curves.svg`.

use std::path::{Path, PathBuf};

use cwerm_config::Pipeline;
use cwerm_report::MethodSummary;

use super::CompareError;
use super::methods::Method;

/// Folder of the derived pipeline files inside the output folder.
pub const PIPELINES_DIR: &str = "pipelines";

/// File name of the weight curves plot.
pub const CURVES_FILE: &str = "weight-curves.svg";

/// `compare/<pipeline name>/`, with characters other than ASCII letters,
/// digits, `-`, `_` and `.` replaced by `-` so the name stays one folder.
pub fn default_out(name: &str) -> PathBuf {
    let mut folder: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if folder.chars().all(|c| c == '.') {
        folder = format!("pipeline{folder}");
    }
    Path::new("compare").join(folder)
}

/// `<out>/pipelines/<method>-seed<k>.toml`.
pub fn pipeline_path(out: &Path, method: Method, seed: u64) -> PathBuf {
    out.join(PIPELINES_DIR)
        .join(format!("{}-seed{seed}.toml", method.name()))
}

/// `<out>/weights-<method>.svg`.
pub fn histogram_path(out: &Path, method: Method) -> PathBuf {
    out.join(format!("weights-{}.svg", method.name()))
}

/// Writes `pipeline` as TOML to `path` and checks that the file loads back
/// to the same pipeline.
///
/// NOTE: relative data and weights paths are copied unchanged, and they
/// resolve against the working directory, so the derived files run only
/// from the directory `cwerm compare` ran in.
pub fn write_pipeline(pipeline: &Pipeline, path: &Path) -> Result<(), CompareError> {
    let text = toml::to_string(pipeline).map_err(|error| CompareError::Serialize {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    write(path, &text)?;

    let loaded = Pipeline::load(path).map_err(|source| CompareError::Reload {
        path: path.to_path_buf(),
        message: source.to_string(),
    })?;
    if loaded != *pipeline {
        return Err(CompareError::Reload {
            path: path.to_path_buf(),
            message: "the file loads back to different settings".into(),
        });
    }
    Ok(())
}

/// Formats the text of `results.md`.
pub fn results_markdown(
    name: &str,
    command_line: &str,
    pipeline: &Path,
    seeds: &[u64],
    table: &str,
) -> String {
    let seeds = seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "# Method comparison: {name}\n\
         \n\
         - command: `{command_line}`\n\
         - pipeline file: `{pipeline}`\n\
         - seeds: {seeds}\n\
         \n\
         {table}\n\
         Test accuracy is the mean ± sample standard deviation over the seeds. \
         AUROC scores `1 - weight` against flipped training labels; `-` means \
         unknown, e.g. when no training label is flipped or every weight is equal. \
         Stage seconds are the wall times recorded when each stage's object was \
         made, so a stage shared from the cache shows the time of its one run.\n",
        pipeline = pipeline.display(),
    )
}

/// Writes `results.md`, `results.csv` and `runs.csv` into `out`.
pub fn write_tables(
    out: &Path,
    markdown: &str,
    summaries: &[MethodSummary],
    runs_csv: &str,
) -> Result<(), CompareError> {
    write(&out.join("results.md"), markdown)?;
    write(&out.join("results.csv"), &cwerm_report::to_csv(summaries))?;
    write(&out.join("runs.csv"), runs_csv)
}

/// Removes the plots an earlier comparison left in `out`, so every plot in
/// the folder belongs to this comparison.
pub fn remove_old_plots(out: &Path) -> Result<(), CompareError> {
    let paths = Method::ALL
        .iter()
        .map(|&method| histogram_path(out, method))
        .chain([out.join(CURVES_FILE)]);
    for path in paths {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CompareError::Write {
                    path,
                    operation: "remove",
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<(), CompareError> {
    std::fs::create_dir_all(dir).map_err(|source| CompareError::Write {
        path: dir.to_path_buf(),
        operation: "create folder",
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<(), CompareError> {
    std::fs::write(path, text).map_err(|source| CompareError::Write {
        path: path.to_path_buf(),
        operation: "write",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_out_keeps_one_folder() {
        assert_eq!(
            default_out("fashion-mnist"),
            Path::new("compare/fashion-mnist")
        );
        assert_eq!(default_out("a/b c"), Path::new("compare/a-b-c"));
        assert_eq!(default_out(".."), Path::new("compare/pipeline.."));
    }

    #[test]
    fn derived_pipeline_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let text = "name = \"t\"\nseed = 2\n[prepare]\nnoise_rate = 0.3\n[embed]\n[select]\n[reweight]\nmeta_lr = 1e-5\n[train]\n";
        let base = Pipeline::parse(text, Path::new("t.toml")).unwrap();
        let pipeline = Method::WErm.derive(&base, 7, 1000).unwrap();
        let path = dir.path().join("w-erm-seed7.toml");
        write_pipeline(&pipeline, &path).unwrap();
        assert_eq!(Pipeline::load(&path).unwrap(), pipeline);
    }
}
