//! Errors of coreset selection, each carrying the offending value.

/// Invalid input to [`crate::select`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectError {
    #[error("invalid select ratio {ratio}: expected a value in (0, 1]")]
    InvalidRatio { ratio: f64 },

    #[error("invalid feature dimension 0: every row needs at least one feature")]
    ZeroDimension,

    #[error("invalid number of classes 0: expected at least one class")]
    NoClasses,

    #[error("features contain {len} values, which is not a whole number of rows of {dim} features")]
    RaggedFeatures { len: usize, dim: usize },

    #[error("{name} has {found} rows, but features have {expected} rows")]
    LengthMismatch {
        name: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("{rows} rows do not fit u32 row indices (at most {max})", max = u32::MAX)]
    TooManyRows { rows: usize },

    #[error("row {row}: {name} {label} is out of range for {num_classes} classes")]
    LabelOutOfRange {
        name: &'static str,
        row: usize,
        label: u32,
        num_classes: usize,
    },

    #[error("row {row}: invalid split code {code}: expected 0 (train), 1 (meta) or 2 (test)")]
    InvalidSplit { row: usize, code: u8 },

    #[error(
        "class {class} has no training rows: every class 0..{num_classes} needs at least one training row to select from"
    )]
    EmptyClass { class: u32, num_classes: usize },

    #[error("row {row}, feature {column}: value {value} is not finite")]
    NonFiniteFeature {
        row: usize,
        column: usize,
        value: f32,
    },
}
