//! The comparison table as Markdown (for docs) and CSV (for other tools),
//! and the per-run results (one row per method and seed) as CSV.
//!
//! Accuracies and weights are printed as percentages or plain numbers with a
//! fixed number of decimals, so two runs with equal results give equal text.

use std::collections::BTreeMap;

use crate::summary::{MethodSummary, RunResult, Stat};

const STAGES: [&str; 5] = ["prepare", "embed", "select", "reweight", "train"];

/// Renders the table with one row per method.
pub fn to_markdown(rows: &[MethodSummary]) -> String {
    let mut text = String::from(
        "| method | seeds | test accuracy (%) | AUROC flipped | weight clean | weight flipped | reweight s | train s |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let cells = [
            row.method.clone(),
            row.seeds.len().to_string(),
            format!(
                "{:.2} ± {:.2}",
                100.0 * row.test_accuracy.mean,
                100.0 * row.test_accuracy.std
            ),
            markdown_stat(row.auroc, 3),
            markdown_stat(row.mean_weight_clean, 3),
            markdown_stat(row.mean_weight_flipped, 3),
            seconds(row, "reweight"),
            seconds(row, "train"),
        ];
        text.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    text
}

/// Renders the table as CSV with a header row; empty cells mean "not applicable".
pub fn to_csv(rows: &[MethodSummary]) -> String {
    let header = csv_header(&[
        "method",
        "seeds",
        "accuracy_mean",
        "accuracy_std",
        "auroc_mean",
        "auroc_std",
        "weight_clean_mean",
        "weight_flipped_mean",
    ]);
    let mut text = header;
    for row in rows {
        let mut cells = vec![
            row.method.clone(),
            row.seeds.len().to_string(),
            format!("{:.6}", row.test_accuracy.mean),
            format!("{:.6}", row.test_accuracy.std),
            csv_value(row.auroc.map(|s| s.mean)),
            csv_value(row.auroc.map(|s| s.std)),
            csv_value(row.mean_weight_clean.map(|s| s.mean)),
            csv_value(row.mean_weight_flipped.map(|s| s.mean)),
        ];
        cells.extend(stage_cells(&row.stage_seconds));
        text.push_str(&(cells.join(",") + "\n"));
    }
    text
}

/// Renders one CSV row per method and seed, in the order given, with the
/// same empty-cell convention as [`to_csv`].
pub fn runs_to_csv(results: &[RunResult]) -> String {
    let header = csv_header(&[
        "method",
        "seed",
        "accuracy",
        "auroc",
        "weight_clean_mean",
        "weight_flipped_mean",
    ]);
    let mut text = header;
    for result in results {
        let mut cells = vec![
            result.method.clone(),
            result.seed.to_string(),
            format!("{:.6}", result.test_accuracy),
            csv_value(result.auroc),
            csv_value(result.mean_weight_clean),
            csv_value(result.mean_weight_flipped),
        ];
        cells.extend(stage_cells(&result.stage_seconds));
        text.push_str(&(cells.join(",") + "\n"));
    }
    text
}

/// Joins `columns` and one `<stage>_seconds` column per stage into a header line.
fn csv_header(columns: &[&str]) -> String {
    let mut header: Vec<String> = columns.iter().map(|column| column.to_string()).collect();
    header.extend(STAGES.iter().map(|stage| format!("{stage}_seconds")));
    header.join(",") + "\n"
}

/// Returns one cell per stage, empty for a stage without a recorded time.
fn stage_cells(stage_seconds: &BTreeMap<String, f64>) -> impl Iterator<Item = String> + '_ {
    STAGES
        .iter()
        .map(|stage| csv_value(stage_seconds.get(*stage).copied()))
}

fn markdown_stat(stat: Option<Stat>, decimals: usize) -> String {
    match stat {
        Some(stat) if stat.count > 1 => {
            format!("{:.decimals$} ± {:.decimals$}", stat.mean, stat.std)
        }
        Some(stat) => format!("{:.decimals$}", stat.mean),
        None => "-".into(),
    }
}

fn seconds(row: &MethodSummary, stage: &str) -> String {
    row.stage_seconds
        .get(stage)
        .map_or("-".into(), |s| format!("{s:.1}"))
}

fn csv_value(value: Option<f64>) -> String {
    value.map_or(String::new(), |v| format!("{v:.6}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::summary::{RunResult, summarize};

    fn result(method: &str, seed: u64, accuracy: f64, auroc: Option<f64>) -> RunResult {
        RunResult {
            method: String::from(method),
            seed,
            test_accuracy: accuracy,
            auroc,
            mean_weight_clean: auroc.map(|_| 0.8),
            mean_weight_flipped: auroc.map(|_| 0.6),
            stage_seconds: BTreeMap::from([("train".to_string(), 2.0)]),
        }
    }

    fn rows() -> Vec<MethodSummary> {
        summarize(&[
            result("erm", 0, 0.85, None),
            result("erm", 1, 0.87, None),
            result("cw-erm", 0, 0.9, Some(0.75)),
        ])
    }

    #[test]
    fn markdown_has_a_row_per_method() {
        let text = to_markdown(&rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].starts_with("| erm | 2 | 86.00 ± 1.41 | - |"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("| 0.750 | 0.800 | 0.600 |"),
            "{}",
            lines[3]
        );
    }

    #[test]
    fn csv_leaves_missing_values_empty() {
        let text = to_csv(&rows());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].split(',').count(), 13);
        assert_eq!(lines[1], "erm,2,0.860000,0.014142,,,,,,,,,2.000000");
        assert!(lines[2].starts_with("cw-erm,1,0.900000,0.000000,0.750000,"));
    }

    #[test]
    fn runs_csv_has_a_row_per_seed() {
        let text = runs_to_csv(&[
            result("erm", 0, 0.85, None),
            result("cw-erm", 3, 0.9, Some(0.75)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            "method,seed,accuracy,auroc,weight_clean_mean,weight_flipped_mean,prepare_seconds,embed_seconds,select_seconds,reweight_seconds,train_seconds"
        );
        assert_eq!(lines[1], "erm,0,0.850000,,,,,,,,2.000000");
        assert_eq!(
            lines[2],
            "cw-erm,3,0.900000,0.750000,0.800000,0.600000,,,,,2.000000"
        );
    }
}
