//! Sweeps the learner weight decay of Meta-Weight-Net on the real Fashion-MNIST
//! setting of `tests/common/fashion.rs` and prints, per value, what the meta
//! set shows (final meta loss) and how well the weights flag the flipped labels.
//!
//! Each argument is `weight_decay` or `weight_decay:lr:steps`.
//!
//! Run: `cargo run --release -p cwerm-reweight --example fashion_mnist_sweep -- 5e-4 0.05:0.01:3000`

#[path = "../tests/common/fashion.rs"]
mod fashion;

use cwerm_config::ReweightConfig;
use cwerm_reweight::{ReweightInput, reweight};

fn main() {
    let defaults = ReweightConfig::default();
    let settings: Vec<(f64, f64, u32)> = std::env::args()
        .skip(1)
        .map(|arg| {
            let parts: Vec<&str> = arg.split(':').collect();
            let number = |i: usize, default: f64| {
                parts
                    .get(i)
                    .map_or(default, |p| p.parse().expect("a number"))
            };
            (
                number(0, defaults.weight_decay),
                number(1, defaults.lr),
                number(2, f64::from(defaults.steps)) as u32,
            )
        })
        .collect();
    let setting = fashion::fashion_setting();
    println!(
        "rows {}, coreset {}, meta {}",
        setting.labels.len(),
        setting.coreset.len(),
        setting.meta.len()
    );
    let input = ReweightInput {
        features: &setting.features,
        labels: &setting.labels,
        clean_labels: Some(&setting.clean_labels),
        coreset: &setting.coreset,
        meta: &setting.meta,
        classes: setting.classes,
    };
    println!(
        "weight_decay\tlr\tsteps\tmeta_loss\tmedian_loss\tclean_w\tflipped_w\tauroc\tspearman\tseconds"
    );
    for (weight_decay, lr, steps) in settings {
        let config = ReweightConfig {
            weight_decay,
            lr,
            steps,
            ..ReweightConfig::default()
        };
        let start = std::time::Instant::now();
        let output = reweight(&input, &config, 0).expect("reweight");
        let seconds = start.elapsed().as_secs_f64();
        let mut losses = output.losses.clone();
        losses.sort_by(f32::total_cmp);
        let d = &output.diagnostics;
        let last = output.curves.last().unwrap();
        println!(
            "{weight_decay}\t{lr}\t{steps}\t{:.4}\t{:.4}\t{:.3}\t{:.3}\t{:.3}\t{:.3}\t{seconds:.1}",
            last.meta_loss,
            losses[losses.len() / 2],
            d.clean_weight.unwrap(),
            d.flipped_weight.unwrap(),
            d.auroc_flipped.unwrap(),
            d.spearman,
        );
    }
}
