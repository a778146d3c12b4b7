//! Blake3 digests: object names, cache keys and input hashes.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;

/// A 32-byte blake3 digest, shown and stored as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(blake3::Hash);

impl Digest {
    /// Hashes a byte slice.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(blake3::hash(bytes))
    }

    /// Hashes everything a reader yields, without holding it in memory.
    pub fn of_reader(reader: impl Read) -> std::io::Result<Digest> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(reader)?;
        Ok(Digest(hasher.finalize()))
    }

    /// Hashes the bytes of the file at `path`.
    pub fn of_file(path: &Path) -> Result<Digest, StoreError> {
        let file = std::fs::File::open(path).map_err(StoreError::io("open", path))?;
        Digest::of_reader(file).map_err(StoreError::io("read", path))
    }

    pub(crate) fn from_hash(hash: blake3::Hash) -> Digest {
        Digest(hash)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn to_hex(&self) -> String {
        self.0.to_hex().to_string()
    }

    /// The first 12 hex digits, as printed by `cwerm run` and `cwerm status`.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl FromStr for Digest {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Digest, StoreError> {
        let valid = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(StoreError::InvalidDigest {
                text: text.to_string(),
            });
        }
        blake3::Hash::from_hex(text)
            .map(Digest)
            .map_err(|_| StoreError::InvalidDigest {
                text: text.to_string(),
            })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_round_trips() {
        let digest = Digest::of(b"cwerm");
        let parsed: Digest = digest.to_hex().parse().unwrap();
        assert_eq!(parsed, digest);
        assert_eq!(digest.short().len(), 12);
        assert!(digest.to_hex().starts_with(&digest.short()));
    }

    #[test]
    fn digest_rejects_bad_hex() {
        let upper = Digest::of(b"x").to_hex().to_uppercase();
        for text in ["", "abc", upper.as_str(), &"g".repeat(64)] {
            let error = text.parse::<Digest>().unwrap_err();
            assert!(
                error.to_string().contains("64 lowercase hex digits"),
                "{error}"
            );
        }
    }

    #[test]
    fn digest_of_reader_equals_digest_of_bytes() {
        let bytes = vec![7u8; 100_000];
        assert_eq!(Digest::of_reader(&bytes[..]).unwrap(), Digest::of(&bytes));
    }
}
