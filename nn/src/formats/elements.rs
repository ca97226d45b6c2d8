//! Element bytes to and from [`RawData`], in either byte order.

use super::array::{DType, RawData};
use super::half::{f16_to_f32, f32_to_f16};

/// Decodes `bytes` (whose length the caller has checked is a multiple of `dtype.size()`) into elements.
pub(crate) fn decode(bytes: &[u8], dtype: DType, big_endian: bool) -> RawData {
    macro_rules! num {
        ($t:ty, $n:literal) => {
            bytes
                .chunks_exact($n)
                .map(|c| {
                    let mut a = [0u8; $n];
                    a.copy_from_slice(c);
                    if big_endian {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }
                })
                .collect()
        };
    }
    match dtype {
        DType::Bool => RawData::Bool(bytes.iter().map(|&b| b != 0).collect()),
        DType::U8 => RawData::U8(bytes.to_vec()),
        DType::I8 => RawData::I8(bytes.iter().map(|&b| b as i8).collect()),
        DType::U16 => RawData::U16(num!(u16, 2)),
        DType::U32 => RawData::U32(num!(u32, 4)),
        DType::U64 => RawData::U64(num!(u64, 8)),
        DType::I16 => RawData::I16(num!(i16, 2)),
        DType::I32 => RawData::I32(num!(i32, 4)),
        DType::I64 => RawData::I64(num!(i64, 8)),
        DType::F16 => {
            let halves: Vec<u16> = num!(u16, 2);
            RawData::F16(halves.into_iter().map(f16_to_f32).collect())
        }
        DType::F32 => RawData::F32(num!(f32, 4)),
        DType::F64 => RawData::F64(num!(f64, 8)),
    }
}

/// Encodes elements as bytes in the chosen byte order (f16 values are rounded to half precision).
pub(crate) fn encode(data: &RawData, big_endian: bool, out: &mut Vec<u8>) {
    macro_rules! num {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&if big_endian { x.to_be_bytes() } else { x.to_le_bytes() });
            }
        };
    }
    match data {
        RawData::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        RawData::U8(v) => out.extend_from_slice(v),
        RawData::I8(v) => out.extend(v.iter().map(|&b| b as u8)),
        RawData::U16(v) => num!(v),
        RawData::U32(v) => num!(v),
        RawData::U64(v) => num!(v),
        RawData::I16(v) => num!(v),
        RawData::I32(v) => num!(v),
        RawData::I64(v) => num!(v),
        RawData::F16(v) => num!(v.iter().map(|&x| f32_to_f16(x))),
        RawData::F32(v) => num!(v),
        RawData::F64(v) => num!(v),
    }
}
