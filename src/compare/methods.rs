//! The methods of `cwerm compare`, each a set of key overrides of one
//! pipeline, and the parsing of the `--methods` and `--seeds` lists.
//!
//! | method | overrides |
//! |---|---|
//! | `erm` | `reweight.method = "uniform"` |
//! | `w-erm` | `select.method = "all"`, `reweight.steps` = 10 epochs of the training split |
//! | `coreset-random` | `select.method = "random"`, `reweight.method = "uniform"`, `train.on = "coreset"` |
//! | `coreset-moderate` | `reweight.method = "uniform"`, `train.on = "coreset"` |
//! | `cw-erm` | none |
//! | `cw-erm-constant` | `train.broadcast = "constant"` |
//!
//! Every method keeps the pipeline's `[prepare]` section, so all methods and
//! seeds see the same noisy labels, and a seed override changes only the
//! top-level `seed`.

use std::fmt;

use cwerm_config::{Broadcast, Pipeline, ReweightMethod, SelectMethod, TrainOn};

use super::CompareError;

/// Epochs of the training split that W-ERM's Meta-Weight-Net runs for.
pub const W_ERM_EPOCHS: u64 = 10;

/// The largest seed a pipeline file can hold: TOML integers are signed 64-bit.
pub const MAX_SEED: u64 = i64::MAX as u64;

/// One compared method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Erm,
    WErm,
    CoresetRandom,
    CoresetModerate,
    CwErm,
    CwErmConstant,
}

impl Method {
    /// All methods in table order.
    pub const ALL: [Method; 6] = [
        Method::Erm,
        Method::WErm,
        Method::CoresetRandom,
        Method::CoresetModerate,
        Method::CwErm,
        Method::CwErmConstant,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Erm => "erm",
            Method::WErm => "w-erm",
            Method::CoresetRandom => "coreset-random",
            Method::CoresetModerate => "coreset-moderate",
            Method::CwErm => "cw-erm",
            Method::CwErmConstant => "cw-erm-constant",
        }
    }

    /// Applies the method's overrides and the seed to a copy of `base`.
    /// `train_rows` is the number of training rows of the prepare object;
    /// only `w-erm` uses it, to size `reweight.steps`.
    pub fn derive(
        self,
        base: &Pipeline,
        seed: u64,
        train_rows: usize,
    ) -> Result<Pipeline, CompareError> {
        let mut pipeline = base.clone();
        pipeline.seed = seed;
        match self {
            Method::Erm => pipeline.reweight.method = ReweightMethod::Uniform,
            Method::WErm => {
                pipeline.select.method = SelectMethod::All;
                pipeline.reweight.steps = w_erm_steps(train_rows, pipeline.reweight.batch_size)?;
            }
            Method::CoresetRandom => {
                pipeline.select.method = SelectMethod::Random;
                pipeline.reweight.method = ReweightMethod::Uniform;
                pipeline.train.on = TrainOn::Coreset;
            }
            Method::CoresetModerate => {
                pipeline.reweight.method = ReweightMethod::Uniform;
                pipeline.train.on = TrainOn::Coreset;
            }
            Method::CwErm => {}
            Method::CwErmConstant => pipeline.train.broadcast = Broadcast::Constant,
        }
        Ok(pipeline)
    }

    /// Returns whether the method's reweight stage trains Meta-Weight-Net on
    /// `base`.
    pub fn trains_meta_net(self, base: &Pipeline) -> bool {
        match self {
            Method::Erm | Method::CoresetRandom | Method::CoresetModerate => false,
            Method::WErm | Method::CwErm | Method::CwErmConstant => {
                base.reweight.method == ReweightMethod::MetaWeightNet
            }
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `ceil(10 * train_rows / batch_size)`: the meta-net updates that make 10
/// epochs of the training split.
pub fn w_erm_steps(train_rows: usize, batch_size: u32) -> Result<u32, CompareError> {
    if batch_size == 0 {
        return Err(CompareError::WErmSteps {
            train_rows,
            batch_size,
        });
    }
    let updates = (W_ERM_EPOCHS * train_rows as u64).div_ceil(u64::from(batch_size));
    u32::try_from(updates).map_err(|_| CompareError::WErmSteps {
        train_rows,
        batch_size,
    })
}

/// Names accepted by `--methods`, comma-separated, for messages.
pub fn accepted_methods() -> String {
    Method::ALL.map(Method::name).join(", ")
}

/// Parses `--methods`: a comma-separated list of method names, each once.
pub fn parse_methods(list: &str) -> Result<Vec<Method>, CompareError> {
    if list.trim().is_empty() {
        return Err(CompareError::EmptyMethods {
            accepted: accepted_methods(),
        });
    }
    let mut methods = Vec::new();
    for item in list.split(',').map(str::trim) {
        let method = Method::ALL
            .into_iter()
            .find(|method| method.name() == item)
            .ok_or_else(|| CompareError::UnknownMethod {
                name: item.to_string(),
                accepted: accepted_methods(),
            })?;
        if methods.contains(&method) {
            return Err(CompareError::DuplicateMethod { name: item.into() });
        }
        methods.push(method);
    }
    Ok(methods)
}

/// Parses `--seeds`: a comma-separated list of distinct integers in
/// `0..=MAX_SEED`.
pub fn parse_seeds(list: &str) -> Result<Vec<u64>, CompareError> {
    if list.trim().is_empty() {
        return Err(CompareError::EmptySeeds);
    }
    let mut seeds = Vec::new();
    for (position, item) in list.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            return Err(CompareError::EmptySeedItem {
                list: list.to_string(),
                position: position + 1,
            });
        }
        let seed = item
            .parse::<u64>()
            .ok()
            .filter(|&seed| seed <= MAX_SEED)
            .ok_or_else(|| CompareError::InvalidSeed {
                item: item.to_string(),
            })?;
        if seeds.contains(&seed) {
            return Err(CompareError::DuplicateSeed { seed });
        }
        seeds.push(seed);
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_with_spaces() {
        assert_eq!(parse_seeds("0, 1,2").unwrap(), [0, 1, 2]);
        assert_eq!(parse_seeds("7").unwrap(), [7]);
    }

    #[test]
    fn bad_seed_lists_name_the_item() {
        let cases = [
            ("", "--seeds is empty"),
            (" ", "--seeds is empty"),
            ("0,,2", "--seeds `0,,2`: item 2 is empty"),
            ("0,1,", "--seeds `0,1,`: item 3 is empty"),
            ("0,x", "--seeds item `x` is not a seed"),
            ("-1", "--seeds item `-1` is not a seed"),
            ("1.5", "--seeds item `1.5` is not a seed"),
            (
                "9223372036854775808",
                "--seeds item `9223372036854775808` is not a seed",
            ),
            ("3,3", "--seeds lists seed 3 twice"),
        ];
        for (list, expected) in cases {
            let error = parse_seeds(list).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{list:?}: {error}");
        }
    }

    #[test]
    fn methods_parse_in_given_order() {
        assert_eq!(
            parse_methods("cw-erm,erm").unwrap(),
            [Method::CwErm, Method::Erm]
        );
    }

    #[test]
    fn unknown_method_lists_accepted_names() {
        let error = parse_methods("erm,cwerm").unwrap_err().to_string();
        assert_eq!(
            error,
            "unknown method `cwerm` in --methods; expected some of erm, w-erm, coreset-random, coreset-moderate, cw-erm, cw-erm-constant"
        );
        let error = parse_methods("erm,erm").unwrap_err().to_string();
        assert_eq!(error, "--methods lists `erm` twice");
    }

    #[test]
    fn w_erm_steps_round_up() {
        // 10 epochs of 59,900 rows at batch 100: 599,000 / 100 = 5,990 steps.
        assert_eq!(w_erm_steps(59_900, 100).unwrap(), 5_990);
        // 10 * 7 = 70 rows at batch 32: 2.19 batches, rounded up to 3.
        assert_eq!(w_erm_steps(7, 32).unwrap(), 3);
        assert!(w_erm_steps(10, 0).is_err());
    }

    #[test]
    fn overrides_follow_the_method_table() {
        let text = "name = \"t\"\nseed = 4\n[prepare]\n[embed]\n[select]\n[reweight]\nbatch_size = 50\n[train]\n";
        let base = Pipeline::parse(text, std::path::Path::new("t.toml")).unwrap();

        let erm = Method::Erm.derive(&base, 9, 120).unwrap();
        assert_eq!(erm.seed, 9);
        assert_eq!(erm.reweight.method, ReweightMethod::Uniform);
        assert_eq!(erm.select, base.select);
        assert_eq!(erm.train, base.train);

        let w_erm = Method::WErm.derive(&base, 9, 120).unwrap();
        assert_eq!(w_erm.select.method, SelectMethod::All);
        // ceil(10 * 120 / 50) = 24.
        assert_eq!(w_erm.reweight.steps, 24);
        assert_eq!(w_erm.reweight.method, ReweightMethod::MetaWeightNet);

        let random = Method::CoresetRandom.derive(&base, 9, 120).unwrap();
        assert_eq!(random.select.method, SelectMethod::Random);
        assert_eq!(random.reweight.method, ReweightMethod::Uniform);
        assert_eq!(random.train.on, TrainOn::Coreset);

        let moderate = Method::CoresetModerate.derive(&base, 9, 120).unwrap();
        assert_eq!(moderate.select, base.select);
        assert_eq!(moderate.train.on, TrainOn::Coreset);

        let cw_erm = Method::CwErm.derive(&base, 9, 120).unwrap();
        assert_eq!(
            cw_erm,
            Pipeline {
                seed: 9,
                ..base.clone()
            }
        );

        let constant = Method::CwErmConstant.derive(&base, 9, 120).unwrap();
        assert_eq!(constant.train.broadcast, Broadcast::Constant);
        for method in Method::ALL {
            assert_eq!(method.derive(&base, 9, 120).unwrap().prepare, base.prepare);
        }
    }
}
