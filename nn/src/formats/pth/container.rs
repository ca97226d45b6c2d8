//! The two layouts of a `torch.save` file, down to the state-dict pickle and the bytes of each
//! storage it declares.
//!
//! - **zip** (PyTorch ≥ 1.6): `<name>/data.pkl`, the storages as `<name>/data/<key>` (stored,
//!   so they are borrowed from the file in place; deflated entries are inflated, never past the
//!   size the pickle declares), `<name>/byteorder` (`little` or `big`).
//! - **legacy**: five pickles in a row — the magic number, the protocol version (1001), system
//!   information (byte order), the state dict, the list of storage keys — then for each key a
//!   little-endian u64 element count and the storage's raw bytes.

use super::objects::{Storages, Value};
use super::pickle::Unpickler;
use crate::formats::error::{FormatError, Result};
use std::borrow::Cow;
use std::io::{Cursor, Read};
use zip::{CompressionMethod, ZipArchive};

/// The legacy format's magic number, the first pickle of the file.
const LEGACY_MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// How the magic number starts a legacy file: LONG1 of 10 bytes, little-endian.
const LEGACY_MAGIC_BYTES: [u8; 12] = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The legacy format's protocol version, the second pickle.
const LEGACY_VERSION: i128 = 1001;
/// At most how much a deflated entry may grow (deflate's own limit is about 1032:1).
const MAX_DEFLATE_RATIO: u64 = 1100;

const RESAVE: &str = "the file is damaged or truncated; save it again with torch.save(model.state_dict(), path)";

/// Which layout a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A zip archive (PyTorch ≥ 1.6).
    Zip,
    /// Pickles in sequence (`_use_new_zipfile_serialization=False`, PyTorch < 1.6).
    Legacy,
}

/// The layout `bytes` start with, if any.
pub(super) fn sniff(bytes: &[u8]) -> Option<Layout> {
    if bytes.starts_with(b"PK\x03\x04") {
        return Some(Layout::Zip);
    }
    // PROTO n, maybe a FRAME, then the magic number.
    let head = &bytes[..bytes.len().min(32)];
    let legacy =
        bytes.first() == Some(&0x80) && head.windows(LEGACY_MAGIC_BYTES.len()).any(|w| w == LEGACY_MAGIC_BYTES);
    legacy.then_some(Layout::Legacy)
}

/// A file opened down to its pickle's value and its storages' bytes.
pub(super) struct Opened<'a> {
    pub layout: Layout,
    /// Size of the state-dict pickle.
    pub pickle_bytes: usize,
    pub unpickler: Unpickler,
    pub root: Value,
    /// The bytes of each declared storage, by declaration index.
    pub data: Vec<Cow<'a, [u8]>>,
}

/// Bytes a storage must have: its declared element count times its element size.
fn storage_bytes(storages: &Storages, i: usize, label: &str) -> Result<u64> {
    let d = &storages.decls[i];
    d.numel.checked_mul(d.dtype.size() as u64).ok_or_else(|| {
        FormatError::corrupt(
            label,
            format!("storage `{}` claims {} elements, too many to address", d.key, d.numel),
            RESAVE,
        )
    })
}

pub(super) fn open<'a>(bytes: &'a [u8], label: &str) -> Result<Opened<'a>> {
    match sniff(bytes) {
        Some(Layout::Zip) => open_zip(bytes, label),
        Some(Layout::Legacy) => open_legacy(bytes, label),
        None => Err(FormatError::corrupt(
            label,
            "not a PyTorch file: it starts neither as a zip archive (PK\\x03\\x04) nor with the legacy pickle magic number",
            "give a file written by torch.save(model.state_dict(), path)",
        )),
    }
}

fn zip_error(label: &str, e: zip::result::ZipError) -> FormatError {
    FormatError::corrupt(label, format!("not a readable zip archive ({e})"), RESAVE)
}

/// The bytes of zip entry `index`: at least `want` of them, exactly `want` returned. Stored
/// entries are borrowed from `bytes`; deflated ones are inflated up to `want` bytes.
fn entry<'a>(
    archive: &mut ZipArchive<Cursor<&'a [u8]>>,
    bytes: &'a [u8],
    index: usize,
    want: u64,
    label: &str,
) -> Result<Cow<'a, [u8]>> {
    let file = archive.by_index_raw(index).map_err(|e| zip_error(label, e))?;
    let name = file.name().map(|n| n.into_owned()).unwrap_or_default();
    if file.encrypted() {
        return Err(FormatError::unsupported(label, format!("zip entry `{name}` is encrypted"), RESAVE));
    }
    if file.size() < want {
        return Err(FormatError::truncated(
            label,
            format!("zip entry `{name}` holds {} bytes but the pickle needs {want}", file.size()),
        ));
    }
    let want_usize = usize::try_from(want).map_err(|_| {
        FormatError::unsupported(label, format!("zip entry `{name}` is larger than this machine can address"), RESAVE)
    })?;
    match file.compression() {
        CompressionMethod::Stored => {
            let start = file.data_start().and_then(|s| usize::try_from(s).ok());
            let data = start.and_then(|s| bytes.get(s..s.checked_add(want_usize)?));
            data.map(Cow::Borrowed).ok_or_else(|| {
                FormatError::truncated(label, format!("zip entry `{name}` ends past the end of the file"))
            })
        }
        CompressionMethod::Deflated => {
            if want > file.compressed_size().saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                return Err(FormatError::corrupt(
                    label,
                    format!(
                        "zip entry `{name}` claims {want} bytes from {} compressed ones, more than deflate can hold",
                        file.compressed_size()
                    ),
                    RESAVE,
                ));
            }
            drop(file);
            let file = archive.by_index(index).map_err(|e| zip_error(label, e))?;
            // Grows only as inflated bytes arrive, so a lying header cannot reserve memory.
            let mut out = Vec::new();
            file.take(want).read_to_end(&mut out).map_err(|e| {
                FormatError::corrupt(label, format!("zip entry `{name}` does not inflate ({e})"), RESAVE)
            })?;
            if out.len() != want_usize {
                return Err(FormatError::truncated(
                    label,
                    format!("zip entry `{name}` inflates to {} bytes, not {want}", out.len()),
                ));
            }
            Ok(Cow::Owned(out))
        }
        other => Err(FormatError::unsupported(
            label,
            format!("zip entry `{name}` uses compression {other}, which graft does not read (stored or deflated only)"),
            RESAVE,
        )),
    }
}

fn open_zip<'a>(bytes: &'a [u8], label: &str) -> Result<Opened<'a>> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(label, e))?;
    // `<name>/data.pkl`, one folder deep (or at the top).
    let mut pickle = None;
    let mut npy = false;
    for i in 0..archive.len() {
        let Some(Ok(name)) = archive.name_for_index(i) else { continue };
        npy |= name.ends_with(".npy");
        let prefix = match name.strip_suffix("data.pkl") {
            Some("") => String::new(),
            Some(p) if p.ends_with('/') && p.matches('/').count() == 1 => p.to_string(),
            _ => continue,
        };
        if pickle.is_some() {
            return Err(FormatError::unsupported(
                label,
                "the zip archive holds more than one data.pkl (several PyTorch files in one archive)",
                "give one torch.save file at a time",
            ));
        }
        pickle = Some((i, prefix));
    }
    let Some((pkl_index, prefix)) = pickle else {
        let problem = if npy {
            "a zip archive of .npy files (an .npz), not a PyTorch file"
        } else {
            "a zip archive without a `data.pkl` entry, so not a PyTorch file"
        };
        return Err(FormatError::corrupt(
            label,
            problem,
            "give a file written by torch.save(model.state_dict(), path)",
        ));
    };
    if let Some(i) = archive.index_for_name(&format!("{prefix}byteorder")) {
        let size = archive.by_index_raw(i).map_err(|e| zip_error(label, e))?.size().min(16);
        let order = entry(&mut archive, bytes, i, size, label)?;
        if order.as_ref() == b"big" {
            return Err(FormatError::unsupported(
                label,
                "the file was saved on a big-endian machine",
                "load and save it again with PyTorch on a little-endian (x86, ARM) machine",
            ));
        }
    }
    let pkl_size = archive.by_index_raw(pkl_index).map_err(|e| zip_error(label, e))?.size();
    let pkl_name = format!("{prefix}data.pkl");
    let pkl = entry(&mut archive, bytes, pkl_index, pkl_size, label)?;
    let mut unpickler = Unpickler::default();
    let (root, _) = unpickler.load(&pkl, 0, label, &pkl_name)?;
    let mut data = Vec::with_capacity(unpickler.storages.decls.len());
    for i in 0..unpickler.storages.decls.len() {
        let want = storage_bytes(&unpickler.storages, i, label)?;
        let key = &unpickler.storages.decls[i].key;
        let name = format!("{prefix}data/{key}");
        let index = archive.index_for_name(&name).ok_or_else(|| {
            FormatError::truncated(
                label,
                format!("the pickle refers to storage `{key}` but the archive has no `{name}`"),
            )
        })?;
        data.push(entry(&mut archive, bytes, index, want, label)?);
    }
    Ok(Opened { layout: Layout::Zip, pickle_bytes: pkl.len(), unpickler, root, data })
}

fn open_legacy<'a>(bytes: &'a [u8], label: &str) -> Result<Opened<'a>> {
    let mut u = Unpickler::default();
    let (magic, at) = u.load(bytes, 0, label, "the magic-number pickle")?;
    if magic != Value::Int(LEGACY_MAGIC) {
        return Err(FormatError::corrupt(label, "the legacy magic number is wrong", RESAVE));
    }
    let (version, at) = u.load(bytes, at, label, "the version pickle")?;
    if version != Value::Int(LEGACY_VERSION) {
        return Err(FormatError::unsupported(
            label,
            format!("legacy PyTorch format version {version:?}; graft reads version 1001"),
            "load it with PyTorch and save it again with torch.save (the zip format)",
        ));
    }
    let (info, at) = u.load(bytes, at, label, "the system-information pickle")?;
    if let Some(super::objects::Obj::Dict(items)) = u.heap.get(info) {
        let big = items.iter().any(|&(k, v)| u.heap.str(k) == Some("little_endian") && v == Value::Bool(false));
        if big {
            return Err(FormatError::unsupported(
                label,
                "the file was saved on a big-endian machine",
                "load and save it again with PyTorch on a little-endian (x86, ARM) machine",
            ));
        }
    }
    let start = at;
    let (root, at) = u.load(bytes, at, label, "the state-dict pickle")?;
    let pickle_bytes = at - start;
    let (keys, mut at) = u.load(bytes, at, label, "the storage-key pickle")?;
    let keys: Vec<String> = match u.heap.get(keys) {
        Some(super::objects::Obj::List(items)) => items
            .iter()
            .map(|&k| u.heap.str(k).map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| FormatError::corrupt(label, "a storage key that is not a string", RESAVE))?,
        _ => return Err(FormatError::corrupt(label, "the storage keys are not a list", RESAVE)),
    };
    let mut data: Vec<Option<Cow<'a, [u8]>>> = vec![None; u.storages.decls.len()];
    for key in keys {
        let i = u.storages.index(&key).ok_or_else(|| {
            FormatError::corrupt(label, format!("storage `{key}` is listed but the pickle never refers to it"), RESAVE)
        })?;
        let count = bytes
            .get(at..at.saturating_add(8))
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .ok_or_else(|| FormatError::truncated(label, format!("the file ends before storage `{key}`")))?;
        let decl = &u.storages.decls[i];
        if count != decl.numel {
            return Err(FormatError::corrupt(
                label,
                format!("storage `{key}` holds {count} elements but the pickle says {}", decl.numel),
                RESAVE,
            ));
        }
        let want = storage_bytes(&u.storages, i, label)?;
        let body = usize::try_from(want).ok().and_then(|n| bytes.get(at + 8..(at + 8).checked_add(n)?));
        let body = body.ok_or_else(|| {
            FormatError::truncated(
                label,
                format!("storage `{key}` needs {want} bytes but only {} follow", bytes.len().saturating_sub(at + 8)),
            )
        })?;
        if data[i].replace(Cow::Borrowed(body)).is_some() {
            return Err(FormatError::corrupt(label, format!("storage `{key}` is listed twice"), RESAVE));
        }
        at += 8 + body.len();
    }
    let data = data
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            d.ok_or_else(|| {
                let key = &u.storages.decls[i].key;
                FormatError::truncated(
                    label,
                    format!("the pickle refers to storage `{key}` but the file does not hold it"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Opened { layout: Layout::Legacy, pickle_bytes, unpickler: u, root, data })
}
