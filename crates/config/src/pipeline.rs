//! Loading a pipeline file and the canonical JSON of its sections.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::sections::{EmbedConfig, PrepareConfig, ReweightConfig, SelectConfig, TrainConfig};
use crate::stage::Stage;

/// One parsed, validated pipeline file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Short name of the run, shown in reports.
    pub name: String,
    /// Training seed: random selection, reweight and train.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub prepare: PrepareConfig,
    #[serde(default)]
    pub embed: EmbedConfig,
    #[serde(default)]
    pub select: SelectConfig,
    #[serde(default)]
    pub reweight: ReweightConfig,
    #[serde(default)]
    pub train: TrainConfig,
}

impl Pipeline {
    /// Reads, parses and validates the pipeline file at `path`.
    pub fn load(path: &Path) -> Result<Pipeline, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Pipeline::parse(&text, path)
    }

    /// Parses and validates pipeline text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Pipeline, ConfigError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|error| parse_error(&error, text, path))?;
        let pipeline: Pipeline = serde_path_to_error::deserialize(deserializer)
            .map_err(|error| keyed_parse_error(&error, text, path))?;
        require_sections(text, path)?;
        pipeline.validate(path)?;
        Ok(pipeline)
    }

    /// The canonical JSON of one stage's section: defaults filled in, keys sorted.
    pub fn section_json(&self, stage: Stage) -> serde_json::Value {
        let value = match stage {
            Stage::Prepare => serde_json::to_value(&self.prepare),
            Stage::Embed => serde_json::to_value(&self.embed),
            Stage::Select => serde_json::to_value(&self.select),
            Stage::Reweight => serde_json::to_value(&self.reweight),
            Stage::Train => serde_json::to_value(&self.train),
        };
        value.expect("config sections contain only JSON-representable values")
    }

    /// Validates the pipeline again after keys were overridden in code.
    pub fn revalidate(&self, origin: &Path) -> Result<(), ConfigError> {
        self.validate(origin)
    }
}

/// Serialises a JSON value with sorted keys and no white space. `serde_json`
/// keeps object keys in a `BTreeMap` (the `preserve_order` feature is off), so
/// the text is canonical.
pub fn canonical_json(value: &serde_json::Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serialises")
}

fn parse_error(error: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let (line, column) = match error.span() {
        Some(span) => line_and_column(text, span.start),
        None => (1, 1),
    };
    ConfigError::Parse {
        path: PathBuf::from(path),
        line,
        column,
        message: error.message().replace('\n', " "),
    }
}

/// Prefixes the message with the dotted key that serde was reading, because
/// toml's own type errors name the line but not the key.
fn keyed_parse_error(
    error: &serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> ConfigError {
    let mut located = parse_error(error.inner(), text, path);
    let key = error.path().to_string();
    if let ConfigError::Parse { message, .. } = &mut located
        && key != "."
    {
        *message = format!("`{key}`: {message}");
    }
    located
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn require_sections(text: &str, path: &Path) -> Result<(), ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|error| parse_error(&error, text, path))?;
    for stage in Stage::ALL {
        if !table.contains_key(stage.name()) {
            return Err(ConfigError::MissingSection {
                path: path.to_path_buf(),
                section: stage.name().to_string(),
            });
        }
    }
    Ok(())
}
