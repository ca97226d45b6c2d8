//! NumPy `.npy` files: format versions 1.0, 2.0 and 3.0, numeric and bool dtypes in either byte order,
//! C or Fortran order (Fortran is transposed to row-major on reading), 0-d arrays.

use std::path::Path;

use super::array::{shape_text, DType, RawArray};
use super::elements;
use super::error::{FormatError, Result};
use super::fileio;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy pads the header so that the data starts on a multiple of this.
const ALIGN: usize = 64;

/// Reads an `.npy` file.
///
/// ```no_run
/// let x = graft_nn::formats::read_npy("features.npy")?;
/// let values: Vec<f32> = x.to_f32();
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn read_npy(path: impl AsRef<Path>) -> Result<RawArray> {
    let path = path.as_ref();
    parse_npy(&fileio::read(path)?, &path.display().to_string())
}

/// Parses the bytes of an `.npy` file; `name` is used in error messages.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<RawArray> {
    if !bytes.starts_with(MAGIC) {
        if MAGIC.starts_with(bytes) {
            return Err(FormatError::truncated(
                name,
                format!("an .npy file has at least 10 bytes, this one {}", bytes.len()),
            ));
        }
        let hint = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            "it is a zip archive: read it as .npz"
        } else if bytes.first() == Some(&0x80) {
            "it looks like a Python pickle: save the array with np.save instead"
        } else {
            "check that it was written with np.save"
        };
        return Err(FormatError::corrupt(name, "not an .npy file (it does not start with \\x93NUMPY)", hint));
    }
    if bytes.len() < 10 {
        return Err(FormatError::truncated(
            name,
            format!("an .npy file has at least 10 bytes, this one {}", bytes.len()),
        ));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_start, header_len) = match major {
        1 => (10usize, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
        2 | 3 => {
            let Some(len) = bytes.get(8..12) else {
                return Err(FormatError::truncated(name, "the .npy preamble ends inside the header length"));
            };
            (12, u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize)
        }
        _ => {
            return Err(FormatError::unsupported(
                name,
                format!(".npy format version {major}.{minor} is not supported (only 1.0, 2.0 and 3.0)"),
                "re-save the array with a current NumPy's np.save",
            ))
        }
    };
    let data_start = header_start.checked_add(header_len).filter(|&end| end <= bytes.len()).ok_or_else(|| {
        FormatError::truncated(
            name,
            format!(
                "the .npy header claims {header_len} bytes but only {} follow",
                bytes.len().saturating_sub(header_start)
            ),
        )
    })?;
    let header_text = std::str::from_utf8(&bytes[header_start..data_start]).map_err(|_| {
        FormatError::corrupt(name, "the .npy header is not text", "the file is damaged; write it again")
    })?;
    let header = parse_header(header_text, name)?;
    let (dtype, big_endian) = parse_descr(&header.descr, name)?;
    let payload = &bytes[data_start..];
    let needed = RawArray::shape_len(&header.shape).and_then(|n| n.checked_mul(dtype.size())).ok_or_else(|| {
        FormatError::corrupt(
            name,
            format!(".npy header says {} {dtype}, more bytes than this machine can address", shape_text(&header.shape)),
            "the header is damaged; write the file again",
        )
    })?;
    let what = format!(".npy header says {} {dtype} ({needed} bytes)", shape_text(&header.shape));
    if payload.len() < needed {
        return Err(FormatError::truncated(name, format!("{what} but only {} bytes follow", payload.len())));
    }
    if payload.len() > needed {
        return Err(FormatError::corrupt(
            name,
            format!("{what} but {} bytes follow", payload.len()),
            "the header does not match the data; the file is damaged or was not written by np.save",
        ));
    }
    let data = if header.fortran_order && header.shape.len() > 1 {
        elements::decode(&fortran_to_c(payload, dtype.size(), &header.shape), dtype, big_endian)
    } else {
        elements::decode(payload, dtype, big_endian)
    };
    Ok(RawArray { shape: header.shape, data })
}

/// Reorders elements stored column-major (first axis fastest) into row-major order.
fn fortran_to_c(src: &[u8], size: usize, shape: &[usize]) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    if src.is_empty() {
        return out;
    }
    let n = shape.len();
    let mut cstride = vec![1usize; n];
    for i in (0..n - 1).rev() {
        cstride[i] = cstride[i + 1] * shape[i + 1];
    }
    let mut idx = vec![0usize; n];
    let mut c_off = 0usize;
    for chunk in src.chunks_exact(size) {
        out[c_off * size..(c_off + 1) * size].copy_from_slice(chunk);
        let mut axis = 0;
        while axis < n {
            idx[axis] += 1;
            c_off += cstride[axis];
            if idx[axis] < shape[axis] {
                break;
            }
            c_off -= shape[axis] * cstride[axis];
            idx[axis] = 0;
            axis += 1;
        }
    }
    out
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    List,
}

/// Parses the Python dict literal of an `.npy` header, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(text: &str, name: &str) -> Result<Header> {
    let bad = |what: &str| {
        FormatError::corrupt(
            name,
            format!("the .npy header is malformed ({what}): {:?}", text.chars().take(120).collect::<String>()),
            "the file is damaged or was not written by np.save",
        )
    };
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.ws();
    if !p.eat(b'{') {
        return Err(bad("expected '{'"));
    }
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string().ok_or_else(|| bad("expected a quoted key"))?;
        p.ws();
        if !p.eat(b':') {
            return Err(bad("expected ':'"));
        }
        p.ws();
        let value = p.value().ok_or_else(|| bad(&format!("cannot read the value of '{key}'")))?;
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("descr", Value::List) => {
                return Err(FormatError::unsupported(
                    name,
                    "structured (record) dtypes are not supported",
                    "save each field as its own array (np.savez(path, a=arr['a'], ...))",
                ))
            }
            ("fortran_order", Value::Bool(b)) => fortran_order = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", _) => return Err(bad(&format!("'{key}' has the wrong type"))),
            _ => {}
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            return Err(bad("expected ',' or '}'"));
        }
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header { descr, fortran_order, shape }),
        _ => Err(bad("it needs the keys 'descr', 'fortran_order' and 'shape'")),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek().filter(|&q| q == b'\'' || q == b'"')?;
        self.i += 1;
        let start = self.i;
        while self.peek()? != quote {
            self.i += 1;
        }
        let s = std::str::from_utf8(&self.s[start..self.i]).ok()?.to_string();
        self.i += 1;
        Some(s)
    }

    fn word(&mut self, w: &str) -> bool {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            true
        } else {
            false
        }
    }

    fn int(&mut self) -> Option<usize> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let n = std::str::from_utf8(&self.s[start..self.i]).ok()?.parse().ok()?;
        self.eat(b'L'); // Python 2 long literal
        Some(n)
    }

    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'\'' | b'"' => self.string().map(Value::Str),
            b'[' => Some(Value::List),
            b'(' => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.eat(b')') {
                        return Some(Value::Tuple(dims));
                    }
                    dims.push(self.int()?);
                    self.ws();
                    if !self.eat(b',') {
                        self.ws();
                        return self.eat(b')').then_some(Value::Tuple(dims));
                    }
                }
            }
            _ if self.word("True") => Some(Value::Bool(true)),
            _ if self.word("False") => Some(Value::Bool(false)),
            _ => None,
        }
    }
}

/// Maps a NumPy dtype string (`<f4`, `>i8`, `|u1`, ...) to an element type and byte order.
fn parse_descr(descr: &str, name: &str) -> Result<(DType, bool)> {
    let (order, code) = match descr.as_bytes().first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (c, &descr[1..]),
        _ => (b'|', descr),
    };
    let dtype = match code {
        "b1" | "?" => DType::Bool,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => {
            let kind = match code.as_bytes().first() {
                Some(b'c') => "complex numbers",
                Some(b'U' | b'S' | b'a') => "strings",
                Some(b'O') => "Python objects (pickled)",
                Some(b'M' | b'm') => "dates or time spans",
                Some(b'V') => "raw bytes",
                Some(b'f') => "floats of this width",
                _ => "this element type",
            };
            return Err(FormatError::unsupported(
                name,
                format!("dtype '{descr}' ({kind}) is not supported"),
                "convert the array before saving, e.g. np.save(path, arr.astype(np.float32))",
            ));
        }
    };
    let big_endian = match order {
        b'>' => true,
        b'=' => cfg!(target_endian = "big"),
        _ => false,
    };
    Ok((dtype, big_endian))
}

/// Encodes an array as `.npy` bytes: little-endian, C order, format 1.0 (2.0 if the header needs it).
pub fn encode_npy(array: &RawArray) -> Result<Vec<u8>> {
    array.check()?;
    let dtype = array.dtype();
    let order = if dtype.size() == 1 { '|' } else { '<' };
    let code = match dtype {
        DType::Bool => "b1",
        DType::U8 => "u1",
        DType::U16 => "u2",
        DType::U32 => "u4",
        DType::U64 => "u8",
        DType::I8 => "i1",
        DType::I16 => "i2",
        DType::I32 => "i4",
        DType::I64 => "i8",
        DType::F16 => "f2",
        DType::F32 => "f4",
        DType::F64 => "f8",
    };
    let shape = match array.shape.as_slice() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        dims => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{order}{code}', 'fortran_order': False, 'shape': {shape}, }}");
    // Version 1.0 stores the padded header length as u16; longer headers need 2.0's u32.
    let padded = |prefix: usize| (prefix + header.len() + 1).div_ceil(ALIGN) * ALIGN;
    let v1 = padded(10) - 10 <= usize::from(u16::MAX);
    let prefix = if v1 { 10 } else { 12 };
    let total = padded(prefix);
    header.extend(std::iter::repeat_n(' ', total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + array.len() * dtype.size());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        let len = u32::try_from(header.len()).map_err(|_| FormatError::invalid("the shape is too long for .npy"))?;
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    elements::encode(&array.data, false, &mut out);
    Ok(out)
}

/// Writes an array as an `.npy` file that `np.load` reads. The write is atomic.
///
/// ```no_run
/// use graft_nn::formats::{write_npy, RawArray, RawData};
/// let predictions = RawArray::new(vec![2, 3], RawData::F32(vec![0.1, 0.7, 0.2, 0.3, 0.3, 0.4]))?;
/// write_npy("predictions.npy", &predictions)?;
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn write_npy(path: impl AsRef<Path>, array: &RawArray) -> Result<()> {
    fileio::write_atomic(path.as_ref(), &encode_npy(array)?)
}
