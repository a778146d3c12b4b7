//! Range checks that serde's type checks cannot express.

use std::path::Path;

use crate::error::ConfigError;
use crate::pipeline::Pipeline;
use crate::sections::{Broadcast, NoiseKind, ReweightMethod};

impl Pipeline {
    pub(crate) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let prepare = &self.prepare;
        let embed = &self.embed;
        let select = &self.select;
        let reweight = &self.reweight;
        let train = &self.train;

        if self.name.trim().is_empty() {
            return Err(invalid("name", "expected a non-empty name".into()));
        }
        if !(0.0..1.0).contains(&prepare.noise_rate) {
            return Err(invalid(
                "prepare.noise_rate",
                format!("expected a rate in [0, 1), found {}", prepare.noise_rate),
            ));
        }
        if !(prepare.imbalance_factor >= 1.0 && prepare.imbalance_factor.is_finite()) {
            return Err(invalid(
                "prepare.imbalance_factor",
                format!(
                    "expected a finite factor >= 1, found {}",
                    prepare.imbalance_factor
                ),
            ));
        }
        if embed.resolution < 32 {
            return Err(invalid(
                "embed.resolution",
                format!("expected at least 32 pixels, found {}", embed.resolution),
            ));
        }
        if embed.batch_size == 0 {
            return Err(invalid(
                "embed.batch_size",
                "expected at least 1, found 0".into(),
            ));
        }
        if !(select.ratio > 0.0 && select.ratio <= 1.0) {
            return Err(invalid(
                "select.ratio",
                format!("expected a ratio in (0, 1], found {}", select.ratio),
            ));
        }
        check_optimizer(
            "reweight",
            reweight.lr,
            reweight.momentum,
            reweight.weight_decay,
            reweight.batch_size,
            &invalid,
        )?;
        if !(reweight.meta_lr > 0.0 && reweight.meta_lr.is_finite()) {
            return Err(invalid(
                "reweight.meta_lr",
                format!(
                    "expected a positive learning rate, found {}",
                    reweight.meta_lr
                ),
            ));
        }
        if !(reweight.meta_weight_decay >= 0.0 && reweight.meta_weight_decay.is_finite()) {
            return Err(invalid(
                "reweight.meta_weight_decay",
                format!(
                    "expected a finite value >= 0, found {}",
                    reweight.meta_weight_decay
                ),
            ));
        }
        for (key, value) in [
            ("reweight.hidden", reweight.hidden),
            ("reweight.meta_hidden", reweight.meta_hidden),
            ("reweight.meta_depth", reweight.meta_depth),
            ("train.hidden", train.hidden),
            ("train.k", train.k),
        ] {
            if value == 0 {
                return Err(invalid(key, "expected at least 1, found 0".into()));
            }
        }
        for (key, value) in [
            ("reweight.steps", reweight.steps),
            ("train.epochs", train.epochs),
        ] {
            if value == 0 {
                return Err(invalid(key, "expected at least 1, found 0".into()));
            }
        }
        check_combinations(self, &invalid)?;
        check_optimizer(
            "train",
            train.lr,
            train.momentum,
            train.weight_decay,
            train.batch_size,
            &invalid,
        )?;
        Ok(())
    }
}

/// Rejects settings that are valid one by one but contradict each other.
fn check_combinations(
    pipeline: &Pipeline,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let prepare = &pipeline.prepare;
    if prepare.noise == NoiseKind::None && prepare.noise_rate > 0.0 {
        return Err(invalid(
            "prepare.noise_rate",
            format!(
                "found {} with `noise = \"none\"`; set `noise = \"symmetric\"` or `\"pair\"`, or the rate to 0",
                prepare.noise_rate
            ),
        ));
    }
    if pipeline.train.broadcast == Broadcast::MetaNet
        && pipeline.reweight.method == ReweightMethod::Uniform
    {
        return Err(invalid(
            "train.broadcast",
            "`meta-net` needs a learned meta-net, but `reweight.method = \"uniform\"` trains \
             none; choose another rule or `reweight.method = \"meta-weight-net\"`"
                .into(),
        ));
    }
    Ok(())
}

fn check_optimizer(
    section: &str,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    batch_size: u32,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(invalid(
            &format!("{section}.lr"),
            format!("expected a positive learning rate, found {lr}"),
        ));
    }
    if !(0.0..1.0).contains(&momentum) {
        return Err(invalid(
            &format!("{section}.momentum"),
            format!("expected a momentum in [0, 1), found {momentum}"),
        ));
    }
    if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
        return Err(invalid(
            &format!("{section}.weight_decay"),
            format!("expected a finite value >= 0, found {weight_decay}"),
        ));
    }
    if batch_size == 0 {
        return Err(invalid(
            &format!("{section}.batch_size"),
            "expected at least 1, found 0".into(),
        ));
    }
    Ok(())
}
