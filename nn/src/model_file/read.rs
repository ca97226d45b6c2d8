//! Reading a state-dict file's tensors, with checks and messages that name the file: a
//! `.safetensors` file (header and tensors), or a PyTorch `.pth`/`.pt`/`.bin` file, told apart
//! by their first bytes (see [`crate::formats::pth`]) and parsed into the same [`ParsedFile`].

use super::summary::FileFormat;
use crate::formats::half::{bf16_bytes_to_f32, f16_to_f32};
use crate::formats::pth::{self, StorageType};
use crate::{NnError, Result};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Largest header graft reads (the safetensors crate's own limit).
pub(crate) const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor as stored: dtype, shape and its little-endian bytes in row-major order
/// (borrowed from the file, except for `.pth` views that had to be gathered through their
/// strides and deflated `.pth` entries).
pub(crate) struct RawTensor<'a> {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Cow<'a, [u8]>,
}

/// A checked state-dict file.
pub(crate) struct ParsedFile<'a> {
    /// How the file is named in messages.
    pub label: String,
    pub format: FileFormat,
    /// The `.safetensors` JSON header's size, or a `.pth` file's pickle's.
    pub header_bytes: usize,
    pub metadata: BTreeMap<String, String>,
    pub tensors: BTreeMap<String, RawTensor<'a>>,
}

/// A file's bytes: memory-mapped where the platform allows, else read into memory.
pub(crate) enum FileBytes {
    /// The file mapped read-only: its pages are read on first touch and belong to the page
    /// cache, so loading a model holds no second private copy of the file.
    Mapped(memmap2::Mmap),
    /// The file read into memory (empty files, pipes, platforms without mapping).
    Read(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Read(v) => v,
        }
    }
}

impl FileBytes {
    /// Tells the system that `part` (a slice of these bytes) has been used up, so a mapped
    /// file's pages can leave memory at once instead of staying resident until the map is
    /// dropped. Loading calls it after each tensor is converted, so at any moment a load holds
    /// the model plus about one tensor, not the whole file. Does nothing for read bytes.
    pub(crate) fn release(&self, part: &[u8]) {
        #[cfg(unix)]
        if let FileBytes::Mapped(map) = self {
            let offset = (part.as_ptr() as usize).wrapping_sub(map.as_ptr() as usize);
            if offset <= map.len() && part.len() <= map.len() - offset {
                // SAFETY: MADV_DONTNEED on a read-only shared file mapping only drops cached
                // pages; touching them again reads them back from the file, so no byte that
                // is still borrowed changes.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, part.len()) };
            }
        }
        #[cfg(not(unix))]
        let _ = part;
    }
}

/// Opens a whole file, naming it in the error: memory-mapped when it is a non-empty regular
/// file, read otherwise.
pub(crate) fn read_file(path: &Path) -> Result<FileBytes> {
    let err = |e: std::io::Error| NnError::Model(format!("{}: cannot read the file: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: the map is read-only and lives only while the file is parsed and copied
        // into tensors. As with every mmap-based loader (safetensors' own, candle), a process
        // that truncates or rewrites the file during that time may change or withdraw the
        // bytes under us; graft writes its files by atomic rename, never in place, so its own
        // writers cannot. Every offset is checked against the map's length before it is read.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(FileBytes::Mapped(map));
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(err)?;
    Ok(FileBytes::Read(bytes))
}

fn damaged(label: &str, what: &str) -> NnError {
    NnError::Model(format!("{label}: {what} — the file is damaged, truncated or not a .safetensors file"))
}

/// Checks the header (or the `.pth` pickle) and every tensor's extent; nothing is converted
/// yet. A file starting like a PyTorch file (a zip archive or the legacy pickle magic) is read
/// as one, anything else as `.safetensors`.
pub(crate) fn parse<'a>(bytes: &'a [u8], label: &str) -> Result<ParsedFile<'a>> {
    if pth::is_pth(bytes) {
        return parse_pth(bytes, label);
    }
    parse_safetensors(bytes, label)
}

/// The safetensors dtype of a PyTorch storage type (every one graft reads has one).
fn storage_dtype(t: StorageType) -> Dtype {
    match t {
        StorageType::F64 => Dtype::F64,
        StorageType::F32 => Dtype::F32,
        StorageType::F16 => Dtype::F16,
        StorageType::BF16 => Dtype::BF16,
        StorageType::I64 => Dtype::I64,
        StorageType::I32 => Dtype::I32,
        StorageType::I16 => Dtype::I16,
        StorageType::I8 => Dtype::I8,
        StorageType::U8 => Dtype::U8,
        StorageType::Bool => Dtype::BOOL,
    }
}

fn parse_pth<'a>(bytes: &'a [u8], label: &str) -> Result<ParsedFile<'a>> {
    let file = pth::parse_tensors(bytes, label)?;
    let format = match file.layout {
        pth::Layout::Zip => FileFormat::PthZip,
        pth::Layout::Legacy => FileFormat::PthLegacy,
    };
    let tensors = file
        .tensors
        .into_iter()
        .map(|t| (t.name, RawTensor { dtype: storage_dtype(t.dtype), shape: t.shape, data: t.data }))
        .collect();
    Ok(ParsedFile {
        label: label.to_string(),
        format,
        header_bytes: file.pickle_bytes,
        metadata: BTreeMap::new(),
        tensors,
    })
}

fn parse_safetensors<'a>(bytes: &'a [u8], label: &str) -> Result<ParsedFile<'a>> {
    let Some(len_bytes) = bytes.first_chunk::<8>() else {
        return Err(damaged(label, &format!("only {} bytes long, shorter than the 8-byte header length", bytes.len())));
    };
    let n = u64::from_le_bytes(*len_bytes);
    let available = (bytes.len() - 8) as u64;
    if n > MAX_HEADER_BYTES {
        return Err(damaged(
            label,
            &format!("the header claims {n} bytes, more than the {MAX_HEADER_BYTES} graft reads"),
        ));
    }
    if n > available {
        return Err(damaged(label, &format!("the header claims {n} bytes but only {available} follow")));
    }
    let (header_bytes, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
        let what = match e {
            SafeTensorError::InvalidHeader => "the header is not UTF-8 text".to_string(),
            SafeTensorError::InvalidHeaderDeserialization | SafeTensorError::InvalidHeaderStart => {
                "the header is not a safetensors JSON table (names → dtype, shape, data_offsets)".to_string()
            }
            SafeTensorError::MetadataIncompleteBuffer => {
                "the tensor data is not exactly as long as the header says (missing or extra bytes)".to_string()
            }
            SafeTensorError::InvalidOffset(name) => {
                format!("tensor `{name}` has data offsets that overlap or leave gaps")
            }
            SafeTensorError::TensorInvalidInfo => "a tensor's byte size does not match its shape and dtype".to_string(),
            SafeTensorError::ValidationOverflow => "a tensor's shape is too large to address".to_string(),
            other => format!("the header cannot be read ({other:?})"),
        };
        damaged(label, &what)
    })?;
    let start = 8 + header_bytes;
    let mut tensors = BTreeMap::new();
    for (name, info) in meta.tensors() {
        let (s, e) = info.data_offsets;
        let data = start
            .checked_add(s)
            .zip(start.checked_add(e))
            .and_then(|(s, e)| bytes.get(s..e))
            .ok_or_else(|| damaged(label, &format!("tensor `{name}` points outside the file")))?;
        tensors.insert(name, RawTensor { dtype: info.dtype, shape: info.shape.clone(), data: Cow::Borrowed(data) });
    }
    let metadata = meta.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok(ParsedFile { label: label.to_string(), format: FileFormat::Safetensors, header_bytes, metadata, tensors })
}

/// The dtype as safetensors spells it (`F32`, `BF16`, `I64`, …).
pub(crate) fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

impl RawTensor<'_> {
    /// Whether [`RawTensor::to_f32`] can convert this dtype (checked before anything is
    /// converted, so a refused file changes nothing).
    pub(crate) fn check_convertible(&self) -> std::result::Result<(), String> {
        match self.dtype {
            Dtype::F32
            | Dtype::F64
            | Dtype::F16
            | Dtype::BF16
            | Dtype::I64
            | Dtype::U64
            | Dtype::I32
            | Dtype::U32
            | Dtype::I16
            | Dtype::U16
            | Dtype::I8
            | Dtype::U8
            | Dtype::BOOL => Ok(()),
            other => Err(format!(
                "dtype {} cannot be converted to f32 (graft reads float, integer and bool tensors)",
                dtype_name(other)
            )),
        }
    }

    /// The values widened or narrowed to f32: floats round to nearest, integers and booleans
    /// convert by value (exact up to 2²⁴). FP8 dtypes are refused.
    pub(crate) fn to_f32(&self) -> std::result::Result<Vec<f32>, String> {
        let d: &[u8] = &self.data;
        let out = match self.dtype {
            Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => {
                d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()
            }
            Dtype::F16 => d.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::BF16 => bf16_bytes_to_f32(d).collect(),
            Dtype::I64 => {
                d.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()
            }
            Dtype::U64 => {
                d.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect()
            }
            Dtype::I32 => d.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
            Dtype::U32 => d.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
            Dtype::I16 => d.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::U16 => d.chunks_exact(2).map(|c| f32::from(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::I8 => d.iter().map(|&b| f32::from(b as i8)).collect(),
            Dtype::U8 | Dtype::BOOL => d.iter().map(|&b| f32::from(b)).collect(),
            other => {
                return Err(format!(
                    "dtype {} cannot be converted to f32 (graft reads float, integer and bool tensors)",
                    dtype_name(other)
                ))
            }
        };
        Ok(out)
    }
}

/// Orders names the way people read them: `features.10` after `features.9`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["f.10.weight", "f.9.weight", "f.1.bias", "a", "f.1.b"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "f.1.b", "f.1.bias", "f.9.weight", "f.10.weight"]);
    }

    #[test]
    fn short_and_lying_headers_are_refused() {
        for (bytes, want) in [
            (vec![1u8, 2], "only 2 bytes"),
            (u64::MAX.to_le_bytes().to_vec(), "more than"),
            ([&50u64.to_le_bytes()[..], b"{}"].concat(), "only 2 follow"),
            ([&2u64.to_le_bytes()[..], b"[]"].concat(), "not a safetensors JSON"),
            ([&2u64.to_le_bytes()[..], &[0xff, 0xfe]].concat(), "not UTF-8"),
        ] {
            let e = parse(&bytes, "m.safetensors").err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.starts_with("m.safetensors: ") && e.contains(want), "{want}: {e}");
        }
    }
}
