//! Content-addressed artifact store for cwerm pipelines.
//!
//! Layout under the store root (`--artifacts DIR`, else `$CWERM_ARTIFACTS`,
//! else `./artifacts`):
//!
//! ```text
//! objects/<blake3 of the file's bytes>.safetensors    one object per stage output
//! stages/<stage>/<cache key>.json                     record: object, inputs, config, wall time
//! stages/train/<cache key>.metrics.json               metrics of a train run
//! ```
//!
//! Objects are safetensors files whose provenance sits in one `__metadata__`
//! key, [`METADATA_KEY`], holding canonical JSON ([`Provenance`]). Every write
//! goes through a temp file in the target directory that is fsynced and then
//! renamed, so a reader sees either nothing or a whole file. Objects are
//! verified against their name before use. The store knows nothing about the
//! algorithms: it stores tensors, provenance and records.

mod atomic;
mod canonical;
mod digest;
mod error;
mod key;
mod object;
mod record;
mod store;
mod tensor;

pub use canonical::canonical_json;
pub use digest::Digest;
pub use error::StoreError;
pub use key::{KeyParts, cache_key};
pub use object::{METADATA_KEY, Object, Provenance, encode_object};
pub use record::StageRecord;
pub use store::{ARTIFACTS_ENV, DEFAULT_ROOT, Store};
pub use tensor::{Dtype, Tensor};
