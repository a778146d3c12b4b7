//! The pipeline files that read Fashion-MNIST parse, and their `[prepare]`
//! sections give the row counts they promise.

mod common;

use std::path::{Path, PathBuf};

use cwerm_config::{NoiseKind, Pipeline};
use cwerm_data::{SPLIT_META, prepare};

fn pipeline(name: &str) -> Pipeline {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../pipelines")
        .join(name);
    let mut pipeline = Pipeline::load(&path).unwrap();
    // Pipeline paths are relative to the repository root.
    assert_eq!(pipeline.prepare.path, "data/fashion-mnist");
    pipeline.prepare.path = common::fetched("fashion-mnist")
        .to_string_lossy()
        .into_owned();
    pipeline
}

#[test]
fn smoke_pipeline_prepares_a_small_noisy_subset() {
    let pipeline = pipeline("smoke.toml");
    let prepared = prepare(&pipeline.prepare).unwrap();

    // 50 per class in train (45 train + 5 meta) and in test, 10 classes.
    assert_eq!(prepared.len(), 1_000);
    assert_eq!(prepared.summary.train, 450);
    assert_eq!(prepared.summary.meta, 50);
    assert_eq!(prepared.summary.test, 500);
    let rate = prepared.summary.realised_noise_rate;
    // 450 draws at p = 0.4: the standard deviation is about 0.023.
    assert!((rate - 0.4).abs() < 0.1, "realised rate {rate}");
    assert!(
        (0..prepared.len())
            .filter(|&row| prepared.split[row] == SPLIT_META)
            .all(|row| prepared.labels[row] == prepared.clean_labels[row])
    );
}

#[test]
fn clean_pipeline_has_no_noise() {
    let pipeline = pipeline("fashion-mnist-clean.toml");
    assert_eq!(pipeline.prepare.noise, NoiseKind::None);
    assert_eq!(pipeline.prepare.noise_rate, 0.0);

    let main = self::pipeline("fashion-mnist.toml");
    assert_eq!(pipeline.embed, main.embed);
    assert_eq!(pipeline.select, main.select);
    assert_eq!(pipeline.reweight, main.reweight);
    assert_eq!(pipeline.train, main.train);
}
