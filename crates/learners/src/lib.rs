//! Trainable parts of cwerm: classifier heads on features, the Meta-Weight-Net
//! meta-net, SGD with momentum and Adam, and seeded initialisation.
//!
//! Every learner keeps its parameters as a flat list of candle [`Var`]s and can
//! run its forward pass with parameters supplied by the caller, so a meta step
//! can evaluate `l_i(theta + eps G)` without touching the stored values.
//! Parameters are saved as named f32 tensors (`learner.w`, `meta_net.0.weight`)
//! that the stage binaries write to safetensors.
//!
//! [`Var`]: candle_core::Var

mod error;
mod init;
mod learner;
mod loss;
mod meta_net;
mod optim;

pub use error::LearnerError;
pub use init::{seeded_rng, uniform_tensor};
pub use learner::{Learner, Linear, Mlp, build_learner, load_learner};
pub use loss::{mean_cross_entropy, per_example_cross_entropy};
pub use meta_net::MetaNet;
pub use optim::{Adam, Sgd};

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, LearnerError>;
