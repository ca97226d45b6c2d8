//! [`RawArray`]: an n-dimensional array exactly as a file stored it, before any conversion to tensors.

use super::error::{FormatError, Result};

/// The element type of a [`RawArray`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `bool` (NumPy `|b1`).
    Bool,
    /// `u8` (NumPy `|u1`, IDX `0x08`).
    U8,
    /// `u16` (NumPy `u2`).
    U16,
    /// `u32` (NumPy `u4`).
    U32,
    /// `u64` (NumPy `u8`).
    U64,
    /// `i8` (NumPy `|i1`, IDX `0x09`).
    I8,
    /// `i16` (NumPy `i2`, IDX `0x0B`).
    I16,
    /// `i32` (NumPy `i4`, IDX `0x0C`).
    I32,
    /// `i64` (NumPy `i8`).
    I64,
    /// IEEE half precision (NumPy `f2`), held widened to f32.
    F16,
    /// `f32` (NumPy `f4`, IDX `0x0D`).
    F32,
    /// `f64` (NumPy `f8`, IDX `0x0E`).
    F64,
}

impl DType {
    /// Bytes per element in a file.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// Short lowercase name used in messages (`u8`, `f32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of a [`RawArray`], flattened in row-major (C) order, in the type the file used.
#[derive(Clone, Debug, PartialEq)]
pub enum RawData {
    /// Booleans.
    Bool(Vec<bool>),
    /// Unsigned bytes (e.g. MNIST pixels, 0..=255, not scaled).
    U8(Vec<u8>),
    /// Unsigned 16-bit integers.
    U16(Vec<u16>),
    /// Unsigned 32-bit integers.
    U32(Vec<u32>),
    /// Unsigned 64-bit integers.
    U64(Vec<u64>),
    /// Signed bytes.
    I8(Vec<i8>),
    /// Signed 16-bit integers.
    I16(Vec<i16>),
    /// Signed 32-bit integers.
    I32(Vec<i32>),
    /// Signed 64-bit integers (NumPy's default for integer labels).
    I64(Vec<i64>),
    /// Half-precision values, widened to f32 on reading (exact: every f16 is an f32).
    F16(Vec<f32>),
    /// Single precision.
    F32(Vec<f32>),
    /// Double precision.
    F64(Vec<f64>),
}

macro_rules! each_variant {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            RawData::Bool($v) => $body,
            RawData::U8($v) => $body,
            RawData::U16($v) => $body,
            RawData::U32($v) => $body,
            RawData::U64($v) => $body,
            RawData::I8($v) => $body,
            RawData::I16($v) => $body,
            RawData::I32($v) => $body,
            RawData::I64($v) => $body,
            RawData::F16($v) => $body,
            RawData::F32($v) => $body,
            RawData::F64($v) => $body,
        }
    };
}

impl RawData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        each_variant!(self, v => v.len())
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            RawData::Bool(_) => DType::Bool,
            RawData::U8(_) => DType::U8,
            RawData::U16(_) => DType::U16,
            RawData::U32(_) => DType::U32,
            RawData::U64(_) => DType::U64,
            RawData::I8(_) => DType::I8,
            RawData::I16(_) => DType::I16,
            RawData::I32(_) => DType::I32,
            RawData::I64(_) => DType::I64,
            RawData::F16(_) => DType::F16,
            RawData::F32(_) => DType::F32,
            RawData::F64(_) => DType::F64,
        }
    }
}

/// An n-dimensional array as stored in a file: a shape and row-major elements of one [`DType`].
///
/// A 0-dimensional array (a scalar) has an empty shape and one element.
///
/// ```
/// use graft_nn::formats::{RawArray, RawData};
/// let labels = RawArray::new(vec![3], RawData::U8(vec![2, 0, 1])).unwrap();
/// assert_eq!(labels.to_labels().unwrap(), vec![2, 0, 1]);
/// assert_eq!(labels.to_f32(), vec![2.0, 0.0, 1.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RawArray {
    /// Size of each dimension, outermost first.
    pub shape: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of `shape`.
    pub data: RawData,
}

impl RawArray {
    /// Builds an array, checking that the number of elements matches the shape.
    pub fn new(shape: Vec<usize>, data: RawData) -> Result<Self> {
        let array = RawArray { shape, data };
        array.check()?;
        Ok(array)
    }

    /// Number of elements the shape calls for (1 for a scalar), or `None` on overflow.
    pub fn shape_len(shape: &[usize]) -> Option<usize> {
        shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Checks that `data.len()` equals the product of `shape`.
    pub fn check(&self) -> Result<()> {
        match Self::shape_len(&self.shape) {
            Some(n) if n == self.data.len() => Ok(()),
            Some(n) => Err(FormatError::invalid(format!(
                "shape {} calls for {n} elements but the data holds {}",
                shape_text(&self.shape),
                self.data.len()
            ))),
            None => Err(FormatError::invalid(format!(
                "shape {} has more elements than this machine can address",
                shape_text(&self.shape)
            ))),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Every element converted to f32 (`true` is 1.0). Integers are not scaled: a u8 pixel 255 becomes 255.0.
    /// Integers above 2^24 and f64 values round to the nearest f32.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            RawData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
            RawData::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawData::U16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawData::U32(v) => v.iter().map(|&x| x as f32).collect(),
            RawData::U64(v) => v.iter().map(|&x| x as f32).collect(),
            RawData::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawData::I16(v) => v.iter().map(|&x| f32::from(x)).collect(),
            RawData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            RawData::I64(v) => v.iter().map(|&x| x as f32).collect(),
            RawData::F16(v) | RawData::F32(v) => v.clone(),
            RawData::F64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Every element as a class index. Refuses negative values, fractional or non-finite floats and booleans,
    /// naming the first offending position.
    ///
    /// ```
    /// use graft_nn::formats::{RawArray, RawData};
    /// let bad = RawArray::new(vec![2], RawData::I64(vec![1, -1])).unwrap();
    /// assert!(bad.to_labels().unwrap_err().to_string().contains("position 1 is -1"));
    /// ```
    pub fn to_labels(&self) -> Result<Vec<usize>> {
        fn ints<T: Copy + std::fmt::Display + TryInto<usize>>(v: &[T]) -> Result<Vec<usize>> {
            v.iter()
                .enumerate()
                .map(|(position, &x)| {
                    x.try_into().map_err(|_| {
                        let value = x.to_string();
                        let problem = if value.starts_with('-') {
                            "labels cannot be negative"
                        } else {
                            "label is too large to be a class index"
                        };
                        FormatError::BadLabel { position, value, problem }
                    })
                })
                .collect()
        }
        fn floats<T: Copy + std::fmt::Display + Into<f64>>(v: &[T]) -> Result<Vec<usize>> {
            v.iter()
                .enumerate()
                .map(|(position, &x)| {
                    let f: f64 = x.into();
                    let problem = if !f.is_finite() {
                        "labels must be finite"
                    } else if f.fract() != 0.0 {
                        "labels must be whole numbers"
                    } else if f < 0.0 {
                        "labels cannot be negative"
                    } else if f >= 2f64.powi(53) {
                        "label is too large to be a class index"
                    } else {
                        return Ok(f as usize);
                    };
                    Err(FormatError::BadLabel { position, value: x.to_string(), problem })
                })
                .collect()
        }
        match &self.data {
            RawData::Bool(_) => Err(FormatError::BadLabel {
                position: 0,
                value: "a boolean".into(),
                problem: "a boolean array is a mask, not class labels; convert it with .astype(np.int64) if meant",
            }),
            RawData::U8(v) => ints(v),
            RawData::U16(v) => ints(v),
            RawData::U32(v) => ints(v),
            RawData::U64(v) => ints(v),
            RawData::I8(v) => ints(v),
            RawData::I16(v) => ints(v),
            RawData::I32(v) => ints(v),
            RawData::I64(v) => ints(v),
            RawData::F16(v) | RawData::F32(v) => floats(v),
            RawData::F64(v) => floats(v),
        }
    }
}

/// `60000x28x28` for messages; `scalar` for a 0-d shape.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    if shape.is_empty() {
        "scalar".to_string()
    } else {
        shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
    }
}
