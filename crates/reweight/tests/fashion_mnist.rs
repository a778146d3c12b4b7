//! Meta-Weight-Net on real data: EfficientNet-Lite0 features at 64 px of a
//! stratified Fashion-MNIST subset (600 images per class, 10 trusted meta
//! images per class, 40% symmetric noise) and a 10% Moderate coreset.
//!
//! It needs `data/fashion-mnist` and the Lite0 weights in `data/weights`
//! (`bash scripts/fetch-assets.sh`); embedding the 6,000 images takes most of
//! its run time.
//!
//! The settings (learner lr 1e-3, weight decay 0.5) were chosen by the lowest
//! final meta loss over a sweep (examples/fashion_mnist_sweep.rs), not on the test split.

#[path = "common/fashion.rs"]
mod fashion;

use cwerm_config::ReweightConfig;
use cwerm_reweight::{ReweightInput, reweight};

#[test]
fn weights_flag_flipped_fashion_labels() {
    let setting = fashion::fashion_setting();
    let input = ReweightInput {
        features: &setting.features,
        labels: &setting.labels,
        clean_labels: Some(&setting.clean_labels),
        coreset: &setting.coreset,
        meta: &setting.meta,
        classes: setting.classes,
    };
    let config = ReweightConfig {
        lr: 1e-3,
        weight_decay: 0.5,
        ..ReweightConfig::default()
    };
    let output = reweight(&input, &config, 0).unwrap();
    let diagnostics = &output.diagnostics;
    eprintln!("{diagnostics:?}");

    // 590 training rows per clean class, about 59 per observed class after noise.
    assert!(
        (570..=610).contains(&output.indices.len()),
        "{}",
        output.indices.len()
    );
    assert!(diagnostics.auroc_flipped.unwrap() >= 0.8, "{diagnostics:?}");
    let (clean, flipped) = (
        diagnostics.clean_weight.unwrap(),
        diagnostics.flipped_weight.unwrap(),
    );
    assert!(clean >= flipped + 0.05, "clean {clean}, flipped {flipped}");
    assert!(!diagnostics.inverted);
}
