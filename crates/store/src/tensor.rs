//! Owned tensors as the stages hand them to the store: a name, a dtype, a
//! shape and the little-endian bytes of the elements in row-major order.

use crate::error::StoreError;

/// Element types that cwerm objects use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    U8,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "U8",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
        }
    }

    pub(crate) fn to_safetensors(self) -> safetensors::Dtype {
        match self {
            Dtype::U8 => safetensors::Dtype::U8,
            Dtype::I32 => safetensors::Dtype::I32,
            Dtype::U32 => safetensors::Dtype::U32,
            Dtype::I64 => safetensors::Dtype::I64,
            Dtype::U64 => safetensors::Dtype::U64,
            Dtype::F32 => safetensors::Dtype::F32,
            Dtype::F64 => safetensors::Dtype::F64,
        }
    }

    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<Dtype> {
        match dtype {
            safetensors::Dtype::U8 => Some(Dtype::U8),
            safetensors::Dtype::I32 => Some(Dtype::I32),
            safetensors::Dtype::U32 => Some(Dtype::U32),
            safetensors::Dtype::I64 => Some(Dtype::I64),
            safetensors::Dtype::U64 => Some(Dtype::U64),
            safetensors::Dtype::F32 => Some(Dtype::F32),
            safetensors::Dtype::F64 => Some(Dtype::F64),
            _ => None,
        }
    }
}

/// One named tensor with its data as little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

macro_rules! typed_tensor {
    ($from:ident, $to:ident, $ty:ty, $dtype:expr) => {
        #[doc = concat!("Builds a `", stringify!($ty), "` tensor; `values.len()` must equal the product of `shape`.")]
        pub fn $from(
            name: impl Into<String>,
            shape: Vec<usize>,
            values: &[$ty],
        ) -> Result<Tensor, StoreError> {
            let data = values.iter().flat_map(|value| value.to_le_bytes()).collect();
            Tensor::new(name, $dtype, shape, data)
        }

        #[doc = concat!("Decodes the elements of a `", stringify!($ty), "` tensor.")]
        pub fn $to(&self) -> Result<Vec<$ty>, StoreError> {
            self.expect_dtype($dtype)?;
            const SIZE: usize = std::mem::size_of::<$ty>();
            Ok(self
                .data
                .chunks_exact(SIZE)
                .map(|chunk| <$ty>::from_le_bytes(chunk.try_into().expect("chunk has SIZE bytes")))
                .collect())
        }
    };
}

impl Tensor {
    /// Builds a tensor after checking that `data` has exactly the bytes that
    /// `dtype` and `shape` call for.
    pub fn new(
        name: impl Into<String>,
        dtype: Dtype,
        shape: Vec<usize>,
        data: Vec<u8>,
    ) -> Result<Tensor, StoreError> {
        let name = name.into();
        let expected = shape
            .iter()
            .try_fold(dtype.size(), |bytes, &dim| bytes.checked_mul(dim));
        if expected != Some(data.len()) {
            return Err(StoreError::WrongLength {
                name,
                dtype: dtype.name().to_string(),
                shape,
                expected: expected.unwrap_or(usize::MAX),
                found: data.len(),
            });
        }
        Ok(Tensor {
            name,
            dtype,
            shape,
            data,
        })
    }

    /// Builds a `u8` tensor that owns `data`.
    pub fn from_u8(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<u8>,
    ) -> Result<Tensor, StoreError> {
        Tensor::new(name, Dtype::U8, shape, data)
    }

    typed_tensor!(from_u32, to_u32, u32, Dtype::U32);
    typed_tensor!(from_i32, to_i32, i32, Dtype::I32);
    typed_tensor!(from_i64, to_i64, i64, Dtype::I64);
    typed_tensor!(from_u64, to_u64, u64, Dtype::U64);
    typed_tensor!(from_f32, to_f32, f32, Dtype::F32);
    typed_tensor!(from_f64, to_f64, f64, Dtype::F64);

    /// The bytes of a `u8` tensor.
    pub fn as_u8(&self) -> Result<&[u8], StoreError> {
        self.expect_dtype(Dtype::U8)?;
        Ok(&self.data)
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    fn expect_dtype(&self, expected: Dtype) -> Result<(), StoreError> {
        if self.dtype == expected {
            return Ok(());
        }
        Err(StoreError::WrongDtype {
            path: "<in memory>".into(),
            name: self.name.clone(),
            expected: expected.name().to_string(),
            found: self.dtype.name().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_tensor_round_trips() {
        let tensor = Tensor::from_f32("w", vec![2, 2], &[1.0, -2.5, 0.0, 3.25]).unwrap();
        assert_eq!(tensor.data.len(), 16);
        assert_eq!(tensor.to_f32().unwrap(), [1.0, -2.5, 0.0, 3.25]);
        // Little-endian: 1.0f32 is 0x3f800000.
        assert_eq!(&tensor.data[..4], &[0x00, 0x00, 0x80, 0x3f]);
    }

    #[test]
    fn tensor_length_must_match_shape() {
        let error = Tensor::from_u32("labels", vec![3], &[1, 2]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "tensor `labels`: shape [3] of U32 needs 12 bytes, found 8"
        );
    }

    #[test]
    fn tensor_decode_checks_dtype() {
        let tensor = Tensor::from_u32("labels", vec![1], &[4]).unwrap();
        let error = tensor.to_f32().unwrap_err();
        assert!(
            error.to_string().contains("has dtype U32, expected F32"),
            "{error}"
        );
    }
}
