//! Encoding a model's state dict as `.safetensors` bytes and writing them atomically.

use super::read::natural_cmp;
use super::{FORMAT_KEY, FORMAT_VERSION, SPEC_KEY};
use crate::module::Module;
use crate::{NnError, Result};
use graft_engine::Tensor;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every state-dict tensor as little-endian F32, in natural name order, with the spec and
/// format version as metadata. The header is written here rather than by the safetensors
/// crate (whose metadata map has no fixed order), so one model always gives the same bytes.
pub(crate) fn encode(model: &dyn Module) -> Result<Vec<u8>> {
    let mut tensors: Vec<(String, Tensor)> = model.state_dict();
    tensors.sort_by(|a, b| natural_cmp(&a.0, &b.0));
    if let Some(w) = tensors.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(NnError::Model(format!(
            "cannot save: two state-dict tensors are both named `{}`; give the layers distinct names",
            w[0].0
        )));
    }
    let spec = model.spec();
    encode_f32(&[(FORMAT_KEY, FORMAT_VERSION), (SPEC_KEY, &spec)], tensors.iter().map(|(n, t)| (n.as_str(), t)))
}

/// A `.safetensors` file of F32 `tensors` (written in the order given) with `metadata`:
/// deterministic bytes for the same contents, unlike the safetensors crate's serialiser,
/// which writes `__metadata__` in hash order.
pub(crate) fn encode_f32<'a>(
    metadata: &[(&str, &str)],
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<Vec<u8>> {
    let entries: Vec<String> = metadata.iter().map(|(k, v)| format!("{}:{}", json_string(k), json_string(v))).collect();
    let mut header = format!("{{\"__metadata__\":{{{}}}", entries.join(","));
    let mut data = Vec::new();
    for (name, t) in tensors {
        let start = data.len();
        data.extend(t.to_vec()?.iter().flat_map(|v| v.to_le_bytes()));
        let shape: Vec<String> = t.shape().iter().map(usize::to_string).collect();
        header += &format!(
            ",{}:{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            json_string(name),
            shape.join(","),
            data.len()
        );
    }
    header.push('}');
    // Pad with spaces so the data starts 8-byte aligned, as the safetensors crate does.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    Ok(out)
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A temporary name beside `path`, unique within this process and across processes.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name =
        path.file_name().ok_or_else(|| NnError::Model(format!("{}: the path names no file", path.display())))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(file_name);
    tmp.push(format!(".{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    Ok(path.with_file_name(tmp))
}

/// Writes `bytes` to a new temporary file in `path`'s directory, flushes it to disk, and
/// renames it over `path`: readers see the old file or the whole new one, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, "model", &|| {})
}

/// [`write_atomic`] naming `what` is written in its error, with `midway` called once half the
/// bytes are in the temporary file (tests use it to die in the middle of a write).
pub(crate) fn write_atomic_with(path: &Path, bytes: &[u8], what: &str, midway: &dyn Fn()) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        f.write_all(first)?;
        midway();
        f.write_all(rest)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(path);
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        NnError::Model(format!("{}: cannot write the {what}: {e}", path.display()))
    })
}

/// Makes the rename itself durable (best effort: not every platform can sync a directory).
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_json_requires() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\u000a\\u0001é\"");
    }
}
