//! The five stages in pipeline order.

use std::fmt;
use std::str::FromStr;

use crate::{Pipeline, ReweightMethod, SelectMethod};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Prepare,
    Embed,
    Select,
    Reweight,
    Train,
}

impl Stage {
    /// All stages in the order a pipeline runs them.
    pub const ALL: [Stage; 5] = [
        Stage::Prepare,
        Stage::Embed,
        Stage::Select,
        Stage::Reweight,
        Stage::Train,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Embed => "embed",
            Stage::Select => "select",
            Stage::Reweight => "reweight",
            Stage::Train => "train",
        }
    }

    /// Returns the name of the stage executable, `cwerm-<stage>`.
    pub fn binary(self) -> String {
        format!("cwerm-{}", self.name())
    }

    /// Stages whose objects this stage reads, in pipeline order.
    pub fn upstream(self) -> &'static [Stage] {
        let position = Stage::ALL.iter().position(|s| *s == self).unwrap_or(0);
        &Stage::ALL[..position]
    }

    /// Tells whether the stage draws random numbers from the top-level `seed`, which
    /// then enters its cache key. Seeds of the data splits and the noise are
    /// keys of `[prepare]` itself.
    pub fn uses_seed(self, pipeline: &Pipeline) -> bool {
        match self {
            Stage::Prepare | Stage::Embed => false,
            Stage::Select => pipeline.select.method == SelectMethod::Random,
            Stage::Reweight => pipeline.reweight.method == ReweightMethod::MetaWeightNet,
            Stage::Train => true,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == text)
            .ok_or_else(|| {
                format!("unknown stage `{text}`; expected one of prepare, embed, select, reweight, train")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_lists_earlier_stages() {
        assert!(Stage::Prepare.upstream().is_empty());
        assert_eq!(
            Stage::Reweight.upstream(),
            &[Stage::Prepare, Stage::Embed, Stage::Select]
        );
    }

    #[test]
    fn stage_names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(stage.name().parse::<Stage>().unwrap(), stage);
        }
        assert!("selct".parse::<Stage>().unwrap_err().contains("selct"));
    }
}
