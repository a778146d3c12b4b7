//! Crash and concurrency tests of the store: stage binaries killed with
//! SIGKILL mid-write, and two runners sharing one store.

mod common;

use std::time::Duration;

use common::{
    PIPELINE, PIPELINE_TEXT, Workspace, check_store, files_below, is_temp, objects, success,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Training images of the large IDX set: 30,000 x 784 bytes, so prepare
/// writes an object of about 23.5 MB and spends most of its time hashing
/// and writing.
const LARGE_TRAIN_IMAGES: u32 = 30_000;

const KILLS: usize = 20;

#[test]
fn sigkill_never_leaves_partial_objects() {
    let workspace = Workspace::new();
    workspace.write_idx_data("data/large", LARGE_TRAIN_IMAGES);
    workspace.write(
        PIPELINE,
        &PIPELINE_TEXT.replace("data/fashion", "data/large"),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);

    // One undisturbed run gives the object every other store must end with,
    // and the time a run takes, which bounds the kill delays.
    let started = std::time::Instant::now();
    success(&workspace.stage(
        "prepare",
        &["--pipeline", PIPELINE, "--artifacts", "reference"],
    ));
    let run_time = started.elapsed();
    let reference = objects(&workspace.path().join("reference"));
    assert_eq!(reference.len(), 1);

    let mut killed_mid_run = 0;
    let mut left_temp = 0;
    for attempt in 0..KILLS {
        let store = format!("store-{attempt}");
        let delay = rng.random_range(0..=run_time.as_micros() as u64);
        let mut child = workspace
            .command_for(env!("CARGO_BIN_EXE_cwerm-prepare"))
            .args(["--pipeline", PIPELINE, "--artifacts", &store])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        // `Child::kill` sends SIGKILL on Unix.
        let _ = child.kill();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_run += 1;
        }

        let root = workspace.path().join(&store);
        let (object_count, record_count) = check_store(&root);
        assert!(
            object_count <= 1,
            "attempt {attempt}: {object_count} objects"
        );
        assert!(
            record_count <= object_count,
            "attempt {attempt}: a record without its object"
        );
        if files_below(&root).iter().any(|path| is_temp(path)) {
            left_temp += 1;
        }

        // The next run completes, ends with the reference object and
        // removes the temp files that the killed run left.
        success(&workspace.stage("prepare", &["--pipeline", PIPELINE, "--artifacts", &store]));
        assert_eq!(check_store(&root), (1, 1), "attempt {attempt}");
        assert_eq!(objects(&root), reference, "attempt {attempt}");
        let temps: Vec<_> = files_below(&root)
            .into_iter()
            .filter(|path| is_temp(path))
            .collect();
        assert!(
            temps.is_empty(),
            "attempt {attempt}: temp files left: {temps:?}"
        );
    }
    eprintln!(
        "{killed_mid_run} of {KILLS} kills hit a running stage, {left_temp} left a temp file"
    );
    // The delays are drawn over a whole run, so most kills land mid-run; a
    // count of zero would mean the test never exercised a crash.
    assert!(
        killed_mid_run >= KILLS / 4,
        "only {killed_mid_run} of {KILLS} kills hit a running stage"
    );
}

#[test]
fn concurrent_runs_finish_with_identical_objects() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE, "--artifacts", "reference"]));
    let reference = objects(&workspace.path().join("reference"));
    assert_eq!(reference.len(), 5);

    for round in 0..3 {
        let store = format!("shared-{round}");
        let children: Vec<_> = (0..2)
            .map(|_| {
                workspace
                    .command_for(env!("CARGO_BIN_EXE_cwerm"))
                    .args(["run", PIPELINE, "--artifacts", &store])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            let text = success(&output);
            assert_eq!(common::stage_lines(&text).len(), 5, "round {round}: {text}");
        }
        let root = workspace.path().join(&store);
        assert_eq!(check_store(&root), (5, 5), "round {round}");
        assert_eq!(objects(&root), reference, "round {round}");
    }
}
