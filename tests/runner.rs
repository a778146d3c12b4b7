//! End-to-end tests of `cwerm run`, `cwerm status`, the stage binaries and
//! the store they write, each in a fresh temp directory.

mod common;

use common::{
    PIPELINE, Workspace, check_store, object_of, objects, snapshot, stage_words, stderr, stdout,
    success, words,
};

const ALL_RAN: [(&str, &str); 5] = [
    ("ran", "prepare"),
    ("ran", "embed"),
    ("ran", "select"),
    ("ran", "reweight"),
    ("ran", "train"),
];

const ALL_CACHED: [(&str, &str); 5] = [
    ("cached", "prepare"),
    ("cached", "embed"),
    ("cached", "select"),
    ("cached", "reweight"),
    ("cached", "train"),
];

#[test]
fn second_run_is_all_cached_and_writes_nothing() {
    let workspace = Workspace::new();
    let first = success(&workspace.cwerm(&["run", PIPELINE]));
    assert_eq!(stage_words(&first), words(&ALL_RAN));
    let store = workspace.path().join("artifacts");
    assert_eq!(check_store(&store), (5, 5));
    let before = snapshot(&store);

    let second = success(&workspace.cwerm(&["run", PIPELINE]));
    assert_eq!(stage_words(&second), words(&ALL_CACHED));
    assert_eq!(snapshot(&store), before);

    // Both runs print the same object hash prefix per stage.
    let hashes = |text: &str| -> Vec<String> {
        common::stage_lines(text)
            .into_iter()
            .map(|line| line.split_whitespace().nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(hashes(&first), hashes(&second));
    assert!(hashes(&first).iter().all(|hash| hash.len() == 12));

    let status = success(&workspace.cwerm(&["status", PIPELINE]));
    assert_eq!(stage_words(&status), words(&ALL_CACHED));
    assert_eq!(snapshot(&store), before);
}

#[test]
fn fresh_stores_give_identical_objects() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["--artifacts", "one", "run", PIPELINE]));
    success(&workspace.cwerm(&["run", PIPELINE, "--artifacts", "two"]));
    let first_objects = objects(&workspace.path().join("one"));
    let second_objects = objects(&workspace.path().join("two"));
    assert_eq!(first_objects.len(), 5);
    assert_eq!(first_objects, second_objects);
}

#[test]
fn late_section_change_reruns_only_later_stages() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE]));

    workspace.edit_pipeline("epochs = 2", "epochs = 3");
    let output = success(&workspace.cwerm(&["run", PIPELINE]));
    let expected = [
        ("cached", "prepare"),
        ("cached", "embed"),
        ("cached", "select"),
        ("cached", "reweight"),
        ("ran", "train"),
    ];
    assert_eq!(stage_words(&output), words(&expected));

    workspace.edit_pipeline("steps = 20", "steps = 30");
    let output = success(&workspace.cwerm(&["run", PIPELINE]));
    let expected = [
        ("cached", "prepare"),
        ("cached", "embed"),
        ("cached", "select"),
        ("ran", "reweight"),
        ("ran", "train"),
    ];
    assert_eq!(stage_words(&output), words(&expected));

    // The noise rate changes the prepare object but not its `images`, and
    // embed's key hashes only `images`, so embed stays cached.
    workspace.edit_pipeline("noise_rate = 0.2", "noise_rate = 0.3");
    let output = success(&workspace.cwerm(&["run", PIPELINE]));
    let expected = [
        ("ran", "prepare"),
        ("cached", "embed"),
        ("ran", "select"),
        ("ran", "reweight"),
        ("ran", "train"),
    ];
    assert_eq!(stage_words(&output), words(&expected));
    check_store(&workspace.path().join("artifacts"));
}

#[test]
fn seed_reruns_only_stages_that_use_it() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE]));
    workspace.edit_pipeline("seed = 0", "seed = 1");
    let output = success(&workspace.cwerm(&["run", PIPELINE]));
    // Moderate selection draws no random numbers; Meta-Weight-Net and train do.
    let expected = [
        ("cached", "prepare"),
        ("cached", "embed"),
        ("cached", "select"),
        ("ran", "reweight"),
        ("ran", "train"),
    ];
    assert_eq!(stage_words(&output), words(&expected));
}

#[test]
fn flipped_byte_is_rejected_and_force_rebuilds() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE]));
    let store = workspace.path().join("artifacts");
    let object = object_of(&store, "embed");
    let good = std::fs::read(&object).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    std::fs::write(&object, &flipped).unwrap();
    let relative = object
        .strip_prefix(workspace.path())
        .unwrap()
        .display()
        .to_string();
    let fix = "rebuild it with `cwerm run pipeline.toml --force embed`";

    let output = workspace.cwerm(&["run", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stage_words(&stdout(&output)),
        words(&[("cached", "prepare")])
    );
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.starts_with(&format!("error: {relative}: content hash is ")),
        "{error}"
    );
    assert!(error.trim_end().ends_with(fix), "{error}");
    assert_eq!(std::fs::read(&object).unwrap(), flipped);

    // A downstream stage run alone refuses the corrupt input the same way.
    let output = workspace.stage("select", &["--pipeline", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(&relative), "{}", stderr(&output));
    assert!(stderr(&output).contains(fix), "{}", stderr(&output));

    let status = success(&workspace.cwerm(&["status", PIPELINE]));
    let states: Vec<String> = stage_words(&status)
        .into_iter()
        .map(|(word, _)| word)
        .collect();
    assert_eq!(states, ["cached", "stale", "missing", "missing", "missing"]);
    assert!(status.contains(fix), "{status}");

    let output = success(&workspace.cwerm(&["run", PIPELINE, "--force", "embed"]));
    let expected = [
        ("cached", "prepare"),
        ("ran", "embed"),
        ("cached", "select"),
        ("cached", "reweight"),
        ("cached", "train"),
    ];
    assert_eq!(stage_words(&output), words(&expected));
    assert_eq!(std::fs::read(&object).unwrap(), good);
    check_store(&store);
}

#[test]
fn stage_without_upstream_names_the_command() {
    let workspace = Workspace::new();
    let output = workspace.stage("select", &["--pipeline", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: missing prepare artifact for pipeline.toml; run `cwerm run pipeline.toml --until prepare`\n"
    );
    assert!(!workspace.path().join("artifacts").exists());

    success(&workspace.cwerm(&["run", PIPELINE, "--until", "prepare"]));
    let output = workspace.stage("reweight", &["--pipeline", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: missing embed artifact for pipeline.toml; run `cwerm run pipeline.toml --until embed`\n"
    );
}

#[test]
fn until_stops_and_status_shows_the_rest() {
    let workspace = Workspace::new();
    let output = success(&workspace.cwerm(&["run", PIPELINE, "--until", "select"]));
    assert_eq!(stage_words(&output), words(&ALL_RAN[..3]));

    let status = success(&workspace.cwerm(&["status", PIPELINE]));
    let expected = [
        ("cached", "prepare"),
        ("cached", "embed"),
        ("cached", "select"),
        ("missing", "reweight"),
        ("missing", "train"),
    ];
    assert_eq!(stage_words(&status), words(&expected));
    assert!(
        status.contains("its key needs the reweight artifact"),
        "{status}"
    );
}

#[test]
fn malformed_pipeline_exits_2_and_writes_nothing() {
    // (case, file text, fragments the one-line error must contain)
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "bad toml",
            "name = \"x\"\n[prepare\npath = \"data\"\n",
            &["bad.toml:2:", "expected `]`"],
        ),
        (
            "unknown key",
            "name = \"x\"\n[prepare]\n[embed]\n[select]\nratoi = 0.1\n[reweight]\n[train]\n",
            &[
                "bad.toml:5:",
                "`select.ratoi`",
                "expected `method` or `ratio`",
            ],
        ),
        (
            "wrong type",
            "name = \"x\"\n[prepare]\n[embed]\n[select]\n[reweight]\n[train]\nepochs = \"many\"\n",
            &["bad.toml:7:", "`train.epochs`", "expected u32"],
        ),
        (
            "missing section",
            "name = \"x\"\n[prepare]\n[embed]\n[select]\n[reweight]\n",
            &["bad.toml", "missing section [train]"],
        ),
        (
            "out of range",
            "name = \"x\"\n[prepare]\nnoise_rate = 1.5\n[embed]\n[select]\n[reweight]\n[train]\n",
            &[
                "bad.toml",
                "`prepare.noise_rate`",
                "expected a rate in [0, 1), found 1.5",
            ],
        ),
        (
            "missing data",
            "name = \"x\"\n[prepare]\npath = \"nowhere\"\n[embed]\nencoder = \"pixels\"\n[select]\n[reweight]\n[train]\n",
            &[
                "bad.toml",
                "`prepare.path` (\"nowhere\")",
                "resolved against the working directory",
            ],
        ),
    ];

    let workspace = Workspace::new();
    for (case, text, fragments) in cases {
        workspace.write("bad.toml", text);
        let runs = [
            ("cwerm run", workspace.cwerm(&["run", "bad.toml"])),
            ("cwerm status", workspace.cwerm(&["status", "bad.toml"])),
            (
                "cwerm-prepare",
                workspace.stage("prepare", &["--pipeline", "bad.toml"]),
            ),
        ];
        for (command, output) in runs {
            let error = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{case}, {command}: {error}");
            assert_eq!(error.lines().count(), 1, "{case}, {command}: {error}");
            assert!(error.starts_with("error: "), "{case}, {command}: {error}");
            for fragment in fragments {
                assert!(
                    error.contains(fragment),
                    "{case}, {command}: `{fragment}` not in {error}"
                );
            }
            assert!(stdout(&output).is_empty(), "{case}, {command}");
            assert!(
                !workspace.path().join("artifacts").exists(),
                "{case}, {command} created the store"
            );
        }
    }
}

#[test]
fn named_commands_run_beside_binaries() {
    let workspace = Workspace::new();
    let output = success(&workspace.cwerm(&["prepare", "--pipeline", PIPELINE]));
    assert_eq!(stage_words(&output), words(&ALL_RAN[..1]));
    assert_eq!(objects(&workspace.path().join("artifacts")).len(), 1);

    // `--artifacts` before the name reaches the stage binary.
    let output = success(&workspace.cwerm(&[
        "--artifacts",
        "elsewhere",
        "prepare",
        "--pipeline",
        PIPELINE,
    ]));
    assert_eq!(stage_words(&output), words(&ALL_RAN[..1]));
    assert_eq!(objects(&workspace.path().join("elsewhere")).len(), 1);

    let output = workspace.cwerm(&["frobnicate", "--x"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.starts_with("error: unknown command `frobnicate`: no executable `cwerm-frobnicate`"),
        "{error}"
    );
    assert!(error.contains("built-in commands: run, status"), "{error}");
}

#[test]
fn artifacts_env_sets_the_store_root() {
    let workspace = Workspace::new();
    let output = workspace
        .command_for(env!("CARGO_BIN_EXE_cwerm"))
        .args(["run", PIPELINE, "--until", "embed"])
        .env("CWERM_ARTIFACTS", "from-env")
        .output()
        .unwrap();
    success(&output);
    assert_eq!(check_store(&workspace.path().join("from-env")), (2, 2));
    assert!(!workspace.path().join("artifacts").exists());

    // The flag wins over the variable.
    let output = workspace
        .command_for(env!("CARGO_BIN_EXE_cwerm"))
        .args([
            "run",
            PIPELINE,
            "--until",
            "prepare",
            "--artifacts",
            "from-flag",
        ])
        .env("CWERM_ARTIFACTS", "from-env")
        .output()
        .unwrap();
    success(&output);
    assert_eq!(check_store(&workspace.path().join("from-flag")), (1, 1));
}

#[test]
fn train_writes_metrics_beside_its_record() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE]));
    let store = workspace.path().join("artifacts");
    let metrics: Vec<_> = common::files_below(&store.join("stages/train"))
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".metrics.json"))
        .collect();
    assert_eq!(metrics.len(), 1);
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&metrics[0]).unwrap()).unwrap();
    // 100 training images, 10 per class, less the meta set of 1 per class.
    assert_eq!(value["train_rows"], 90);
}

#[test]
fn record_pointing_at_another_stage_is_rejected() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE]));
    let store = workspace.path().join("artifacts");
    let prepare_object = common::object_of(&store, "prepare");
    let prepare_hash = prepare_object
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let select_record = common::files_below(&store.join("stages/select"))
        .into_iter()
        .find(|path| common::is_record(path))
        .unwrap();
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&select_record).unwrap()).unwrap();
    record["object"] = serde_json::Value::String(prepare_hash);
    std::fs::write(&select_record, serde_json::to_vec_pretty(&record).unwrap()).unwrap();

    let output = workspace.cwerm(&["run", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    let message = common::stderr(&output);
    assert!(
        message.contains("made by the prepare stage, but the select record points at it"),
        "{message}"
    );
    assert!(message.contains("--force select"), "{message}");

    success(&workspace.cwerm(&["run", PIPELINE, "--force", "select"]));
}
