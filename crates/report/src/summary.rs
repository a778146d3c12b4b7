//! Aggregation of per-seed run results into one row per method.

use std::collections::BTreeMap;

/// The measurements of one method under one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    pub method: String,
    pub seed: u64,
    /// Test accuracy in [0, 1].
    pub test_accuracy: f64,
    /// AUROC of `1 - weight` as a score for "the observed label is flipped";
    /// `None` when the training rows hold no flipped label or no weights vary.
    pub auroc: Option<f64>,
    pub mean_weight_clean: Option<f64>,
    pub mean_weight_flipped: Option<f64>,
    /// Wall time in seconds per stage that ran for this result; a cached stage
    /// reports the time recorded when it ran.
    pub stage_seconds: BTreeMap<String, f64>,
}

/// Mean and sample standard deviation over the seeds that had a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); 0 for one value.
    pub std: f64,
    pub count: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stat { mean, std, count })
    }
}

/// One method's row of the comparison table.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodSummary {
    pub method: String,
    pub seeds: Vec<u64>,
    pub test_accuracy: Stat,
    pub auroc: Option<Stat>,
    pub mean_weight_clean: Option<Stat>,
    pub mean_weight_flipped: Option<Stat>,
    /// Mean wall time per stage, in seconds.
    pub stage_seconds: BTreeMap<String, f64>,
}

/// Groups results by method, keeping the methods in their first-seen order.
pub fn summarize(results: &[RunResult]) -> Vec<MethodSummary> {
    let mut methods: Vec<&str> = Vec::new();
    for result in results {
        if !methods.contains(&result.method.as_str()) {
            methods.push(&result.method);
        }
    }

    methods
        .into_iter()
        .map(|method| {
            let runs: Vec<&RunResult> = results.iter().filter(|r| r.method == method).collect();
            let collect = |pick: fn(&RunResult) -> Option<f64>| -> Vec<f64> {
                runs.iter().filter_map(|r| pick(r)).collect()
            };
            let accuracy: Vec<f64> = runs.iter().map(|r| r.test_accuracy).collect();
            MethodSummary {
                method: method.to_string(),
                seeds: runs.iter().map(|r| r.seed).collect(),
                test_accuracy: Stat::of(&accuracy).expect("every method has at least one run"),
                auroc: Stat::of(&collect(|r| r.auroc)),
                mean_weight_clean: Stat::of(&collect(|r| r.mean_weight_clean)),
                mean_weight_flipped: Stat::of(&collect(|r| r.mean_weight_flipped)),
                stage_seconds: mean_stage_seconds(&runs),
            }
        })
        .collect()
}

fn mean_stage_seconds(runs: &[&RunResult]) -> BTreeMap<String, f64> {
    let mut totals: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for run in runs {
        for (stage, seconds) in &run.stage_seconds {
            let entry = totals.entry(stage.clone()).or_insert((0.0, 0));
            entry.0 += seconds;
            entry.1 += 1;
        }
    }
    totals
        .into_iter()
        .map(|(stage, (sum, count))| (stage, sum / count as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, seed: u64, accuracy: f64, auroc: Option<f64>) -> RunResult {
        RunResult {
            method: method.into(),
            seed,
            test_accuracy: accuracy,
            auroc,
            mean_weight_clean: None,
            mean_weight_flipped: None,
            stage_seconds: BTreeMap::from([("train".to_string(), seed as f64 + 1.0)]),
        }
    }

    #[test]
    fn stat_uses_sample_deviation() {
        // Values 1, 2, 3: mean 2, sample variance ((1 + 0 + 1) / 2) = 1.
        let stat = Stat::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(stat.mean, 2.0);
        assert_eq!(stat.std, 1.0);
        assert_eq!(Stat::of(&[5.0]).unwrap().std, 0.0);
        assert!(Stat::of(&[]).is_none());
    }

    #[test]
    fn summarize_groups_by_method_in_order() {
        let results = [
            run("erm", 0, 0.8, None),
            run("cw-erm", 0, 0.9, Some(0.7)),
            run("erm", 1, 0.6, None),
        ];
        let rows = summarize(&results);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].method, "erm");
        assert_eq!(rows[0].seeds, vec![0, 1]);
        assert!((rows[0].test_accuracy.mean - 0.7).abs() < 1e-12);
        assert!(rows[0].auroc.is_none());
        assert_eq!(rows[1].auroc.unwrap().mean, 0.7);
        assert_eq!(rows[0].stage_seconds["train"], 1.5);
    }
}
