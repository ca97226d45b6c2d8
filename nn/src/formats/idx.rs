//! IDX files, the format of MNIST and Fashion-MNIST, plain or gzipped.
//!
//! Layout: two zero bytes, a type code (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64),
//! the number of dimensions, each dimension as a big-endian u32, then the elements in row-major order, big-endian.

use std::io::{self, Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::array::{shape_text, DType, RawArray};
use super::elements;
use super::error::{FormatError, Result};
use super::fileio;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn dtype_of(code: u8) -> Option<DType> {
    Some(match code {
        0x08 => DType::U8,
        0x09 => DType::I8,
        0x0B => DType::I16,
        0x0C => DType::I32,
        0x0D => DType::F32,
        0x0E => DType::F64,
        _ => return None,
    })
}

fn code_of(dtype: DType) -> Option<u8> {
    Some(match dtype {
        DType::U8 => 0x08,
        DType::I8 => 0x09,
        DType::I16 => 0x0B,
        DType::I32 => 0x0C,
        DType::F32 => 0x0D,
        DType::F64 => 0x0E,
        _ => return None,
    })
}

/// Reads an IDX file, gzipped (detected by its magic bytes `1f 8b`, whatever the file is called) or not.
///
/// ```no_run
/// let images = graft_nn::formats::read_idx("data/t10k-images-idx3-ubyte.gz")?;
/// assert_eq!(images.shape, vec![10000, 28, 28]);
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<RawArray> {
    let path = path.as_ref();
    parse_idx(&fileio::read(path)?, &path.display().to_string())
}

/// Parses the bytes of an IDX file, gzipped or not; `name` is used in error messages.
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<RawArray> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut gz = GzDecoder::new(bytes);
        parse_stream(&mut gz, name, true)
    } else {
        let mut plain = bytes;
        parse_stream(&mut plain, name, false)
    }
}

fn stream_error(name: &str, e: io::Error, what: &str) -> FormatError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        FormatError::truncated(name, format!("the gzip stream ends inside the {what}"))
    } else {
        FormatError::corrupt(name, format!("the gzip stream is corrupt ({e})"), "download the file again")
    }
}

/// Fills `buf` as far as the stream allows; returns how many bytes were read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8], name: &str, what: &str) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_error(name, e, what)),
        }
    }
    Ok(filled)
}

fn parse_stream(r: &mut impl Read, name: &str, gzipped: bool) -> Result<RawArray> {
    let mut magic = [0u8; 4];
    let got = read_up_to(r, &mut magic, name, "header")?;
    if got < 4 {
        return Err(FormatError::truncated(name, format!("an IDX file starts with a 4-byte header but it has {got}")));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(FormatError::corrupt(
            name,
            format!(
                "not an IDX file: it starts with {:02x} {:02x} {:02x} {:02x}, expected 00 00 <type> <ndim>",
                magic[0], magic[1], magic[2], magic[3]
            ),
            "check that this is an MNIST-style IDX file (decompress it first if it is not gzip-compressed)",
        ));
    }
    let dtype = dtype_of(magic[2]).ok_or_else(|| {
        FormatError::corrupt(
            name,
            format!("unknown IDX element type code 0x{:02x}", magic[2]),
            "valid codes are 08 u8, 09 i8, 0B i16, 0C i32, 0D f32, 0E f64; the file is damaged or not IDX",
        )
    })?;
    let ndim = usize::from(magic[3]);
    let mut dims_bytes = vec![0u8; 4 * ndim];
    let got = read_up_to(r, &mut dims_bytes, name, "header")?;
    if got < dims_bytes.len() {
        return Err(FormatError::truncated(
            name,
            format!("the IDX header announces {ndim} dimensions ({} bytes) but only {got} bytes follow", 4 * ndim),
        ));
    }
    let shape: Vec<usize> =
        dims_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let needed = RawArray::shape_len(&shape).and_then(|n| n.checked_mul(dtype.size())).ok_or_else(|| {
        FormatError::corrupt(
            name,
            format!("IDX header says {} {dtype}, more bytes than this machine can address", shape_text(&shape)),
            "the header is damaged; download the file again",
        )
    })?;
    // Read at most one byte more than promised: memory grows only with bytes that really exist.
    let mut data = Vec::new();
    let limit = u64::try_from(needed).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = r.by_ref().take(limit).read_to_end(&mut data) {
        return Err(stream_error(name, e, "data"));
    }
    if data.len() < needed {
        let unpacked = if gzipped { " (after decompression)" } else { "" };
        return Err(FormatError::truncated(
            name,
            format!(
                "IDX header says {} {dtype} ({needed} bytes) but only {} bytes follow{unpacked}",
                shape_text(&shape),
                data.len()
            ),
        ));
    }
    if data.len() > needed {
        return Err(FormatError::corrupt(
            name,
            format!("IDX header says {} {dtype} ({needed} bytes) but more data follows", shape_text(&shape)),
            "the header does not match the data; the file is damaged or was written incorrectly",
        ));
    }
    Ok(RawArray { shape, data: elements::decode(&data, dtype, true) })
}

/// Encodes an array as IDX bytes (uncompressed).
///
/// Fails for element types IDX cannot hold (bool, unsigned wider than 8 bits, i64, f16), more than 255
/// dimensions, a dimension above `u32::MAX`, or a shape that does not match the data.
pub fn encode_idx(array: &RawArray) -> Result<Vec<u8>> {
    array.check()?;
    let dtype = array.dtype();
    let code = code_of(dtype).ok_or_else(|| {
        FormatError::invalid(format!(
            "IDX cannot hold {dtype} elements; convert to u8, i8, i16, i32, f32 or f64, or write .npy instead"
        ))
    })?;
    let ndim = u8::try_from(array.shape.len())
        .map_err(|_| FormatError::invalid(format!("IDX allows at most 255 dimensions, not {}", array.shape.len())))?;
    let mut out = Vec::with_capacity(4 + 4 * array.shape.len() + array.len() * dtype.size());
    out.extend_from_slice(&[0, 0, code, ndim]);
    for &d in &array.shape {
        let d =
            u32::try_from(d).map_err(|_| FormatError::invalid(format!("IDX dimensions are u32; {d} does not fit")))?;
        out.extend_from_slice(&d.to_be_bytes());
    }
    elements::encode(&array.data, true, &mut out);
    Ok(out)
}

/// Writes an array as an IDX file, gzip-compressed when the path ends in `.gz`. The write is atomic.
///
/// ```no_run
/// use graft_nn::formats::{write_idx, RawArray, RawData};
/// let labels = RawArray::new(vec![3], RawData::U8(vec![7, 2, 1]))?;
/// write_idx("labels-idx1-ubyte.gz", &labels)?;
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn write_idx(path: impl AsRef<Path>, array: &RawArray) -> Result<()> {
    let path = path.as_ref();
    let plain = encode_idx(array)?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let bytes = if gz {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&plain).and_then(|_| enc.finish()).map_err(|e| FormatError::io(&path.display().to_string(), e))?
    } else {
        plain
    };
    fileio::write_atomic(path, &bytes)
}
