//! End-to-end tests of `cwerm compare` and of the metrics summary that
//! `cwerm run` prints, each in a fresh temp directory with the synthetic IDX
//! data set of `common` and raw pixels as features.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{PIPELINE, Workspace, files_below, is_record, stderr, stdout, success};

const METHODS: [&str; 6] = [
    "erm",
    "w-erm",
    "coreset-random",
    "coreset-moderate",
    "cw-erm",
    "cw-erm-constant",
];

/// Creates a workspace whose pipeline has 60 training images (6 per class, 5 after
/// the meta hold-out of 1 per class) and small step counts, so the twelve
/// runs of a two-seed comparison take seconds.
fn compare_workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.write_idx_data("data/fashion", 60);
    workspace.edit_pipeline("steps = 20", "steps = 20\nbatch_size = 10");
    workspace
}

/// Returns the `method` column of the Markdown table rows, header and rule
/// skipped.
fn table_methods(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| method"))
        .map(|line| line.split('|').nth(1).unwrap().trim().to_string())
        .collect()
}

/// Counts the records of `stage` by their `config.method`.
fn record_methods(store: &Path, stage: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for path in files_below(&store.join("stages").join(stage)) {
        if !is_record(&path) {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let method = record["config"]["method"]
            .as_str()
            .unwrap_or("-")
            .to_string();
        *counts.entry(method).or_default() += 1;
    }
    counts
}

fn record_count(store: &Path, stage: &str) -> usize {
    files_below(&store.join("stages").join(stage))
        .iter()
        .filter(|path| is_record(path))
        .count()
}

/// Parses a CSV file as rows of cells and checks that every row has the
/// header's number of cells.
fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|line| line.split(',').map(String::from).collect())
        .collect();
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(
            row.len(),
            rows[0].len(),
            "{}: row {index} has {} cells, the header {}",
            path.display(),
            row.len(),
            rows[0].len()
        );
    }
    rows
}

/// Checks that every cell after the first `text_columns` is empty or a number.
fn assert_numeric(rows: &[Vec<String>], text_columns: usize, path: &str) {
    for row in &rows[1..] {
        for cell in &row[text_columns..] {
            assert!(
                cell.is_empty() || cell.parse::<f64>().is_ok(),
                "{path}: cell `{cell}` in {row:?} is not a number"
            );
        }
    }
}

#[test]
fn compare_runs_six_methods_over_two_seeds() {
    let workspace = compare_workspace();
    let output = workspace.cwerm(&["compare", PIPELINE, "--seeds", "0,1", "--out", "report"]);
    let table = success(&output);
    let progress = stderr(&output);

    assert_eq!(table_methods(&table), METHODS);
    for row in table.lines().skip(2) {
        assert!(
            row.starts_with(&format!("| {} | 2 |", table_methods(row)[0])),
            "{row}"
        );
    }
    let progress_lines: Vec<&str> = progress
        .lines()
        .filter(|line| line.starts_with("compare: ") && line.contains(" seed "))
        .collect();
    assert_eq!(progress_lines.len(), 12, "{progress}");
    assert!(
        progress_lines[0].starts_with("compare: erm seed 0 (1/12): ran "),
        "{}",
        progress_lines[0]
    );
    assert!(
        progress_lines[11].starts_with("compare: cw-erm-constant seed 1 (12/12): "),
        "{}",
        progress_lines[11]
    );
    assert!(
        progress_lines
            .iter()
            .all(|line| line.contains("; accuracy "))
    );

    // Shared stages ran once: one prepare and one embed for all twelve runs.
    // Moderate and all selections draw no random numbers, so each has one
    // object, and random selection has one object per seed.
    let store = workspace.path().join("artifacts");
    assert_eq!(record_count(&store, "prepare"), 1);
    assert_eq!(record_count(&store, "embed"), 1);
    assert_eq!(
        record_methods(&store, "select"),
        BTreeMap::from([
            ("all".to_string(), 1),
            ("moderate".to_string(), 1),
            ("random".to_string(), 2)
        ])
    );
    // Uniform reweighting draws no seed, so erm and coreset-moderate share
    // one object for the moderate coreset. Uniform reweighting of the random
    // coreset has one object per seed's selection. Meta-Weight-Net on all
    // rows (w-erm) and on the moderate coreset (cw-erm and cw-erm-constant)
    // has one object per seed.
    assert_eq!(
        record_methods(&store, "reweight"),
        BTreeMap::from([
            ("meta-weight-net".to_string(), 4),
            ("uniform".to_string(), 3)
        ])
    );
    assert_eq!(record_count(&store, "train"), 12);
    common::check_store(&store);

    let out = workspace.path().join("report");
    let results = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(
        results.contains("- command: `cwerm compare pipeline.toml --seeds 0,1 --out report`"),
        "{results}"
    );
    assert!(
        results.contains("- pipeline file: `pipeline.toml`"),
        "{results}"
    );
    assert!(
        results.contains(&table),
        "results.md holds the printed table"
    );

    let summary = read_csv(&out.join("results.csv"));
    assert_eq!(summary.len(), 7);
    let methods: Vec<&str> = summary[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(methods, METHODS);
    assert_numeric(&summary, 1, "results.csv");

    let runs = read_csv(&out.join("runs.csv"));
    assert_eq!(runs.len(), 13);
    assert_eq!(runs[0][..3], ["method", "seed", "accuracy"]);
    assert_numeric(&runs, 1, "runs.csv");
    for row in &runs[1..] {
        let accuracy: f64 = row[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{row:?}");
    }

    for method in METHODS {
        for seed in [0, 1] {
            let path = out.join(format!("pipelines/{method}-seed{seed}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.contains(&format!("seed = {seed}\n")), "{text}");
        }
    }
    let w_erm = std::fs::read_to_string(out.join("pipelines/w-erm-seed0.toml")).unwrap();
    // 50 training rows (6 per class less 1 meta row each, 10 classes) at
    // reweight batch size 10: ceil(10 * 50 / 10) = 50 steps.
    assert!(w_erm.contains("steps = 50\n"), "{w_erm}");
    assert!(w_erm.contains("method = \"all\"\n"), "{w_erm}");

    // Uniform weights are all 1 and get no histogram; the meta-net methods do.
    for method in ["erm", "coreset-random", "coreset-moderate"] {
        assert!(
            !out.join(format!("weights-{method}.svg")).exists(),
            "{method}"
        );
    }
    for method in ["w-erm", "cw-erm", "cw-erm-constant"] {
        let svg = std::fs::read_to_string(out.join(format!("weights-{method}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{method}");
    }
    let curves = std::fs::read_to_string(out.join("weight-curves.svg")).unwrap();
    let labels: Vec<&str> = curves.lines().map(str::trim).collect();
    assert!(labels.contains(&"w-erm"), "curve legend lists w-erm");
    assert!(
        labels.contains(&"cw-erm, cw-erm-constant"),
        "cw-erm and cw-erm-constant share one reweight object and one curve"
    );

    // A second comparison takes every stage from the cache.
    let again = workspace.cwerm(&["compare", PIPELINE, "--seeds", "0,1", "--out", "report"]);
    assert_eq!(success(&again), table);
    let cached = stderr(&again)
        .lines()
        .filter(|line| line.contains("all stages cached; accuracy"))
        .count();
    assert_eq!(cached, 12, "{}", stderr(&again));
}

#[test]
fn compare_defaults_to_pipeline_seed_and_name() {
    let workspace = compare_workspace();
    let output = workspace.cwerm(&["compare", PIPELINE, "--methods", "erm,cw-erm"]);
    let table = success(&output);
    assert_eq!(table_methods(&table), ["erm", "cw-erm"]);
    let out = workspace.path().join("compare/smoke");
    assert!(out.join("results.md").is_file());
    assert!(out.join("pipelines/erm-seed0.toml").is_file());
    assert!(out.join("pipelines/cw-erm-seed0.toml").is_file());
    assert!(!out.join("pipelines/w-erm-seed0.toml").exists());
    assert_eq!(read_csv(&out.join("runs.csv")).len(), 3);
}

#[test]
fn bad_compare_arguments_exit_2_and_write_nothing() {
    // (case, arguments after the pipeline, the one-line error)
    let cases: [(&str, &[&str], &str); 7] = [
        (
            "unknown method",
            &["--methods", "erm,cwerm"],
            "error: unknown method `cwerm` in --methods; expected some of erm, w-erm, coreset-random, coreset-moderate, cw-erm, cw-erm-constant",
        ),
        (
            "empty method list",
            &["--methods", ""],
            "error: --methods is empty; expected some of erm, w-erm, coreset-random, coreset-moderate, cw-erm, cw-erm-constant",
        ),
        (
            "empty seed list",
            &["--seeds", ""],
            "error: --seeds is empty; expected a comma-separated list of seeds such as 0,1,2",
        ),
        (
            "empty seed item",
            &["--seeds", "0,,2"],
            "error: --seeds `0,,2`: item 2 is empty; expected a comma-separated list of seeds such as 0,1,2",
        ),
        (
            "malformed seed",
            &["--seeds", "0,one"],
            "error: --seeds item `one` is not a seed: expected an integer in 0..=9223372036854775807",
        ),
        (
            "negative seed",
            &["--seeds=-1"],
            "error: --seeds item `-1` is not a seed: expected an integer in 0..=9223372036854775807",
        ),
        (
            "repeated seed",
            &["--seeds", "1,1"],
            "error: --seeds lists seed 1 twice",
        ),
    ];

    let workspace = compare_workspace();
    for (case, arguments, expected) in cases {
        let mut args = vec!["compare", PIPELINE];
        args.extend(arguments);
        let output = workspace.cwerm(&args);
        assert_eq!(output.status.code(), Some(2), "{case}: {}", stderr(&output));
        assert_eq!(stderr(&output), format!("{expected}\n"), "{case}");
        assert!(stdout(&output).is_empty(), "{case}");
        assert!(
            !workspace.path().join("artifacts").exists(),
            "{case} created the store"
        );
        assert!(
            !workspace.path().join("compare").exists(),
            "{case} created the output folder"
        );
    }
}

#[test]
fn run_prints_metrics_summary_after_stages() {
    let workspace = Workspace::new();
    let output = success(&workspace.cwerm(&["run", PIPELINE]));
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 8, "{output}");
    assert!(lines[4].starts_with("ran     train "), "{output}");

    let accuracy = lines[5]
        .strip_prefix("test accuracy  ")
        .and_then(|rest| rest.strip_suffix('%'))
        .unwrap_or_else(|| panic!("no accuracy line: {output}"));
    let accuracy: f64 = accuracy.parse().unwrap();
    assert!((0.0..=100.0).contains(&accuracy), "{output}");
    // The test pipeline flips labels (noise_rate 0.2) and trains
    // Meta-Weight-Net, so the clean and flipped mean weights are known.
    assert!(lines[6].starts_with("weights        "), "{output}");
    assert!(lines[6].contains(" clean, "), "{output}");

    let metrics = lines[7].strip_prefix("metrics        ").unwrap();
    assert!(metrics.starts_with("artifacts/stages/train/"), "{metrics}");
    assert!(metrics.ends_with(".metrics.json"), "{metrics}");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace.path().join(metrics)).unwrap()).unwrap();
    assert_eq!(
        format!("{:.2}", 100.0 * value["test_accuracy"].as_f64().unwrap()),
        format!("{accuracy:.2}")
    );

    // A cached train stage prints the same summary; a run that stops before
    // train prints none.
    let again = success(&workspace.cwerm(&["run", PIPELINE]));
    assert_eq!(again.lines().skip(5).collect::<Vec<_>>(), lines[5..]);
    let until = success(&workspace.cwerm(&["run", PIPELINE, "--until", "reweight"]));
    assert_eq!(until.lines().count(), 4, "{until}");
}

#[test]
fn compare_with_missing_data_names_the_path() {
    let workspace = compare_workspace();
    workspace.edit_pipeline("path = \"data/fashion\"", "path = \"nowhere\"");
    let output = workspace.cwerm(&["compare", PIPELINE, "--seeds", "0,1"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(
        error.starts_with(
            "error: prepare: pipeline.toml: invalid value for `prepare.path` (\"nowhere\")"
        ),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(stdout(&output).is_empty());
    assert!(!workspace.path().join("compare").exists());
}
