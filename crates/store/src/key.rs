//! Cache keys: one blake3 digest over everything that determines a stage's
//! output.
//!
//! Each field is framed (strings with a u64 little-endian length prefix,
//! digests as their 32 raw bytes, the seed with a presence byte), so no two
//! different field lists hash the same byte stream.

use serde_json::Value;

use crate::canonical::canonical_json;
use crate::digest::Digest;

/// Domain tag that starts every key's hashed stream; bump it when the framing changes.
const KEY_DOMAIN: &[u8] = b"cwerm cache key v1";

/// What a stage's cache key is computed from.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    /// Stage name, e.g. `embed`.
    pub stage: &'a str,
    /// The stage's artifact format version.
    pub format_version: u32,
    /// The stage's config section; it is hashed as canonical JSON.
    pub config: &'a Value,
    /// Named input hashes in the stage's fixed order.
    pub inputs: &'a [(String, Digest)],
    /// The pipeline seed, only for stages that draw random numbers.
    pub seed: Option<u64>,
}

/// Computes the cache key of a stage run.
pub fn cache_key(parts: &KeyParts<'_>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hash_field(&mut hasher, KEY_DOMAIN);
    hash_field(&mut hasher, parts.stage.as_bytes());
    hasher.update(&parts.format_version.to_le_bytes());
    hash_field(&mut hasher, canonical_json(parts.config).as_bytes());

    hasher.update(&(parts.inputs.len() as u64).to_le_bytes());
    for (name, digest) in parts.inputs {
        hash_field(&mut hasher, name.as_bytes());
        hasher.update(digest.as_bytes());
    }

    match parts.seed {
        None => hasher.update(&[0]),
        Some(seed) => hasher.update(&[1]).update(&seed.to_le_bytes()),
    };
    Digest::from_hash(hasher.finalize())
}

fn hash_field(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inputs() -> Vec<(String, Digest)> {
        vec![
            ("prepare".into(), Digest::of(b"prepare object")),
            ("embed".into(), Digest::of(b"embed object")),
        ]
    }

    fn key_with(
        edit: impl FnOnce(
            &mut String,
            &mut u32,
            &mut Value,
            &mut Vec<(String, Digest)>,
            &mut Option<u64>,
        ),
    ) -> Digest {
        let mut stage = "select".to_string();
        let mut version = 1;
        let mut config = json!({"method": "moderate", "ratio": 0.01});
        let mut inputs = inputs();
        let mut seed = None;
        edit(
            &mut stage,
            &mut version,
            &mut config,
            &mut inputs,
            &mut seed,
        );
        cache_key(&KeyParts {
            stage: &stage,
            format_version: version,
            config: &config,
            inputs: &inputs,
            seed,
        })
    }

    #[test]
    fn cache_key_is_stable() {
        assert_eq!(key_with(|_, _, _, _, _| {}), key_with(|_, _, _, _, _| {}));
    }

    #[test]
    fn cache_key_ignores_config_key_order() {
        let reordered = key_with(|_, _, config, _, _| {
            *config = serde_json::from_str(r#"{"ratio": 0.01, "method": "moderate"}"#).unwrap();
        });
        assert_eq!(reordered, key_with(|_, _, _, _, _| {}));
    }

    #[test]
    fn cache_key_changes_with_every_part() {
        let base = key_with(|_, _, _, _, _| {});
        let changed = [
            key_with(|stage, _, _, _, _| *stage = "reweight".into()),
            key_with(|_, version, _, _, _| *version = 2),
            key_with(|_, _, config, _, _| config["ratio"] = json!(0.02)),
            key_with(|_, _, _, inputs, _| inputs[1].1 = Digest::of(b"other")),
            key_with(|_, _, _, inputs, _| inputs.reverse()),
            key_with(|_, _, _, inputs, _| inputs.truncate(1)),
            key_with(|_, _, _, _, seed| *seed = Some(0)),
        ];
        for (index, key) in changed.iter().enumerate() {
            assert_ne!(*key, base, "change {index} kept the key");
        }
        assert_ne!(
            key_with(|_, _, _, _, seed| *seed = Some(0)),
            key_with(|_, _, _, _, seed| *seed = Some(1))
        );
    }

    #[test]
    fn cache_key_frames_input_names() {
        let digest = Digest::of(b"x");
        let split_ab = key_with(|_, _, _, inputs, _| {
            *inputs = vec![("ab".into(), digest), ("c".into(), digest)]
        });
        let split_bc = key_with(|_, _, _, inputs, _| {
            *inputs = vec![("a".into(), digest), ("bc".into(), digest)]
        });
        assert_ne!(split_ab, split_bc);
    }
}
