//! The storage types of a state dict (`torch.FloatStorage`, …) and their elements.

use crate::formats::array::{DType, RawData};
use crate::formats::elements::decode;

/// The element type of a PyTorch storage, named by its pickled class (`torch.FloatStorage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum StorageType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

/// Storage classes of dtypes graft does not read, and what they hold (for the refusal).
const UNREAD: &[(&str, &str)] = &[
    ("ComplexDoubleStorage", "complex128"),
    ("ComplexFloatStorage", "complex64"),
    ("QInt8Storage", "quantized qint8"),
    ("QUInt8Storage", "quantized quint8"),
    ("QInt32Storage", "quantized qint32"),
    ("QUInt4x2Storage", "quantized quint4x2"),
    ("QUInt2x4Storage", "quantized quint2x4"),
    ("UntypedStorage", "untyped bytes"),
];

impl StorageType {
    /// The type a `torch.<name>` storage class holds; `Err` with the dtype for a storage class
    /// graft knows but does not read, `Ok(None)` for a name that is no storage class.
    pub(crate) fn from_class(name: &str) -> Result<Option<Self>, &'static str> {
        Ok(Some(match name {
            "DoubleStorage" => StorageType::F64,
            "FloatStorage" => StorageType::F32,
            "HalfStorage" => StorageType::F16,
            "BFloat16Storage" => StorageType::BF16,
            "LongStorage" => StorageType::I64,
            "IntStorage" => StorageType::I32,
            "ShortStorage" => StorageType::I16,
            "CharStorage" => StorageType::I8,
            "ByteStorage" => StorageType::U8,
            "BoolStorage" => StorageType::Bool,
            _ => {
                if let Some((_, what)) = UNREAD.iter().find(|(class, _)| *class == name) {
                    return Err(what);
                }
                if name.starts_with("Float8") && name.ends_with("Storage") {
                    return Err("float8");
                }
                return Ok(None);
            }
        }))
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            StorageType::I8 | StorageType::U8 | StorageType::Bool => 1,
            StorageType::F16 | StorageType::BF16 | StorageType::I16 => 2,
            StorageType::F32 | StorageType::I32 => 4,
            StorageType::F64 | StorageType::I64 => 8,
        }
    }

    /// PyTorch's name of the dtype (`float32`, `int64`, …), for messages.
    pub(crate) fn torch_name(self) -> &'static str {
        match self {
            StorageType::F64 => "float64",
            StorageType::F32 => "float32",
            StorageType::F16 => "float16",
            StorageType::BF16 => "bfloat16",
            StorageType::I64 => "int64",
            StorageType::I32 => "int32",
            StorageType::I16 => "int16",
            StorageType::I8 => "int8",
            StorageType::U8 => "uint8",
            StorageType::Bool => "bool",
        }
    }

    /// Little-endian element bytes (a multiple of [`size`](Self::size) long) as [`RawData`]:
    /// bfloat16 is widened to f32 exactly (as graft's `.safetensors` datasets do), float16 is
    /// held widened in [`RawData::F16`], every other type as stored.
    pub(crate) fn decode(self, bytes: &[u8]) -> RawData {
        let dtype = match self {
            StorageType::BF16 => return RawData::F32(crate::formats::half::bf16_bytes_to_f32(bytes).collect()),
            StorageType::F64 => DType::F64,
            StorageType::F32 => DType::F32,
            StorageType::F16 => DType::F16,
            StorageType::I64 => DType::I64,
            StorageType::I32 => DType::I32,
            StorageType::I16 => DType::I16,
            StorageType::I8 => DType::I8,
            StorageType::U8 => DType::U8,
            StorageType::Bool => DType::Bool,
        };
        decode(bytes, dtype, false)
    }
}
