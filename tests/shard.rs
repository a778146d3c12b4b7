//! Sharded embedding: three shards joined by `cwerm embed-merge` give the
//! object of an unsharded embed run, byte for byte.

mod common;

use common::{PIPELINE, Workspace, object_of, stderr, success};

#[test]
fn three_shards_merge_to_unsharded_object() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE, "--until", "embed"]));
    let unsharded = std::fs::read(object_of(&workspace.path().join("artifacts"), "embed")).unwrap();

    let sharded = Workspace::new();
    let store = ["--artifacts", "sharded"];
    success(&sharded.stage("prepare", &["--pipeline", PIPELINE, store[0], store[1]]));
    for shard in ["0/3", "1/3", "2/3"] {
        let output = sharded.stage(
            "embed",
            &["--pipeline", PIPELINE, "--shard", shard, store[0], store[1]],
        );
        assert!(success(&output).contains(&format!("(shard {shard})")));
    }
    let merge = sharded.cwerm(&[
        "--artifacts",
        "sharded",
        "embed-merge",
        "--pipeline",
        PIPELINE,
        "--shards",
        "3",
    ]);
    success(&merge);

    let merged = std::fs::read(object_of(&sharded.path().join("sharded"), "embed")).unwrap();
    assert!(
        merged == unsharded,
        "merged object differs from the unsharded one"
    );
}

#[test]
fn merge_names_missing_shard() {
    let workspace = Workspace::new();
    success(&workspace.stage("prepare", &["--pipeline", PIPELINE]));
    success(&workspace.stage("embed", &["--pipeline", PIPELINE, "--shard", "0/2"]));

    let merge = workspace.cwerm(&["embed-merge", "--pipeline", PIPELINE, "--shards", "2"]);
    assert_eq!(merge.status.code(), Some(1));
    let message = stderr(&merge);
    assert!(message.contains("shard 1/2 is missing"), "{message}");
    assert!(message.contains("--shard 1/2"), "{message}");
    let embed_records = common::files_below(&workspace.path().join("artifacts/stages/embed"))
        .into_iter()
        .filter(|path| common::is_record(path))
        .count();
    assert_eq!(embed_records, 0, "a failed merge wrote an embed record");
}

#[test]
fn invalid_shard_is_a_usage_error() {
    let workspace = Workspace::new();
    let output = workspace.stage("embed", &["--pipeline", PIPELINE, "--shard", "3/3"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("invalid shard `3/3`"),
        "{}",
        stderr(&output)
    );
}
