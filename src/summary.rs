//! The train metrics of a pipeline run, read from the metrics file beside the
//! train record (`stages/train/<key>.metrics.json`), and the short summary
//! that `cwerm run` prints after the stage lines.
//!
//! Keys read from the metrics JSON, each a number, `null` or absent:
//! `test_accuracy` in [0, 1], `auroc_flipped` (AUROC of `1 - weight` as a
//! score for "the observed label is flipped"), `mean_weight_clean` and
//! `mean_weight_flipped`.

use std::path::{Path, PathBuf};

use cwerm_config::Stage;
use cwerm_stages::METRICS_KIND;
use cwerm_store::{Digest, Store};
use serde_json::Value;

/// Errors reading a metrics file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{path}: metrics file not found; rebuild it with `cwerm run {pipeline} --force train`")]
    Missing { path: PathBuf, pipeline: PathBuf },

    #[error("{path}: cannot read the metrics file: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: invalid metrics JSON: {message}")]
    Parse { path: PathBuf, message: String },

    #[error("{path}: `{key}` is {found}, expected a number or null")]
    WrongType {
        path: PathBuf,
        key: &'static str,
        found: String,
    },

    #[error(
        "{path}: no `{key}` in the train metrics; rebuild them with `cwerm run {pipeline} --force train`"
    )]
    MissingKey {
        path: PathBuf,
        key: &'static str,
        pipeline: PathBuf,
    },
}

/// The figures of one train run that the summary and the comparison use.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainMetrics {
    /// The metrics file they were read from.
    pub path: PathBuf,
    /// Test accuracy in [0, 1]; `None` when the run had no test rows.
    pub test_accuracy: Option<f64>,
    /// AUROC of `1 - weight` for flipped training labels; `None` when no
    /// training label is flipped or the weights do not vary.
    pub auroc_flipped: Option<f64>,
    pub mean_weight_clean: Option<f64>,
    /// `None` when no training label is flipped.
    pub mean_weight_flipped: Option<f64>,
}

impl TrainMetrics {
    /// Reads the metrics file of the train run with cache key `key`.
    /// `pipeline` only names the file in the fix of an error.
    pub fn read(
        store: &Store,
        key: &Digest,
        pipeline: &Path,
    ) -> Result<TrainMetrics, MetricsError> {
        let path = store.side_file_path(Stage::Train.name(), key, METRICS_KIND);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(MetricsError::Missing {
                    path,
                    pipeline: pipeline.to_path_buf(),
                });
            }
            Err(source) => return Err(MetricsError::Read { path, source }),
        };
        let value: Value = serde_json::from_str(&text).map_err(|error| MetricsError::Parse {
            path: path.clone(),
            message: error.to_string(),
        })?;
        if !value.is_object() {
            return Err(MetricsError::Parse {
                path,
                message: "expected a JSON object".into(),
            });
        }

        let number = |key: &'static str| -> Result<Option<f64>, MetricsError> {
            match value.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(number)) => Ok(number.as_f64()),
                Some(other) => Err(MetricsError::WrongType {
                    path: path.clone(),
                    key,
                    found: other.to_string(),
                }),
            }
        };
        Ok(TrainMetrics {
            test_accuracy: number("test_accuracy")?,
            auroc_flipped: number("auroc_flipped")?,
            mean_weight_clean: number("mean_weight_clean")?,
            mean_weight_flipped: number("mean_weight_flipped")?,
            path,
        })
    }

    /// Returns the test accuracy, or an error naming the file when it is absent.
    pub fn require_test_accuracy(&self, pipeline: &Path) -> Result<f64, MetricsError> {
        self.test_accuracy.ok_or_else(|| MetricsError::MissingKey {
            path: self.path.clone(),
            key: "test_accuracy",
            pipeline: pipeline.to_path_buf(),
        })
    }

    /// Formats the summary lines printed after the stage lines of `cwerm run`.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match self.test_accuracy {
            Some(accuracy) => lines.push(format!("test accuracy  {:.2}%", 100.0 * accuracy)),
            None => lines.push("test accuracy  not measured (no test rows)".into()),
        }
        if let Some(weights) = self.weights_line() {
            lines.push(format!("weights        {weights}"));
        }
        lines.push(format!("metrics        {}", self.path.display()));
        lines
    }

    /// AUROC and mean weights, as far as they are known.
    fn weights_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(auroc) = self.auroc_flipped {
            let mut part = format!("AUROC {auroc:.3} of 1 - weight for flipped labels");
            if auroc < 0.5 {
                part.push_str(" (below 0.5: flipped labels get the higher weights)");
            }
            parts.push(part);
        }
        match (self.mean_weight_clean, self.mean_weight_flipped) {
            (Some(clean), Some(flipped)) => {
                parts.push(format!(
                    "mean weight {clean:.3} clean, {flipped:.3} flipped"
                ));
            }
            (Some(clean), None) => {
                parts.push(format!("mean weight {clean:.3} clean, no flipped labels"));
            }
            (None, Some(flipped)) => parts.push(format!("mean weight {flipped:.3} flipped")),
            (None, None) => {}
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(auroc: Option<f64>, clean: Option<f64>, flipped: Option<f64>) -> TrainMetrics {
        TrainMetrics {
            path: PathBuf::from("artifacts/stages/train/k.metrics.json"),
            test_accuracy: Some(0.85125),
            auroc_flipped: auroc,
            mean_weight_clean: clean,
            mean_weight_flipped: flipped,
        }
    }

    #[test]
    fn summary_lists_known_figures() {
        let lines = metrics(Some(0.83), Some(0.77), Some(0.62)).summary_lines();
        assert_eq!(
            lines,
            [
                "test accuracy  85.12%",
                "weights        AUROC 0.830 of 1 - weight for flipped labels; mean weight 0.770 clean, 0.620 flipped",
                "metrics        artifacts/stages/train/k.metrics.json",
            ]
        );
    }

    #[test]
    fn summary_skips_unknown_weights() {
        let lines = metrics(None, None, None).summary_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with("metrics "), "{}", lines[1]);
    }

    #[test]
    fn summary_flags_inverted_auroc() {
        let lines = metrics(Some(0.03), Some(0.4), None).summary_lines();
        assert!(
            lines[1].contains("AUROC 0.030 of 1 - weight for flipped labels (below 0.5"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("mean weight 0.400 clean, no flipped labels"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn metrics_read_checks_types() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let key = Digest::of(b"key");
        let pipeline = Path::new("p.toml");

        let error = TrainMetrics::read(&store, &key, pipeline).unwrap_err();
        assert!(
            error.to_string().ends_with(
                "metrics file not found; rebuild it with `cwerm run p.toml --force train`"
            ),
            "{error}"
        );

        let value = serde_json::json!({"test_accuracy": 0.5, "auroc_flipped": null});
        store
            .write_side_file("train", &key, METRICS_KIND, &value)
            .unwrap();
        let read = TrainMetrics::read(&store, &key, pipeline).unwrap();
        assert_eq!(read.test_accuracy, Some(0.5));
        assert_eq!(read.auroc_flipped, None);
        assert_eq!(read.mean_weight_clean, None);

        let value = serde_json::json!({"test_accuracy": "high"});
        store
            .write_side_file("train", &key, METRICS_KIND, &value)
            .unwrap();
        let error = TrainMetrics::read(&store, &key, pipeline).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("`test_accuracy` is \"high\", expected a number or null"),
            "{error}"
        );
    }
}
