//! NumPy `.npz` archives: a zip of `.npy` files, as written by `np.savez` (stored) and `np.savez_compressed`
//! (deflated).

use std::collections::BTreeMap;
use std::path::Path;

use super::array::RawArray;
use super::error::{FormatError, Result};
use super::npy::{encode_npy, parse_npy};
use super::{fileio, zip};

/// Reads an `.npz` archive into arrays by name (`np.savez(path, x=..., y=...)` gives `"x"` and `"y"`; unnamed
/// arrays are `"arr_0"`, `"arr_1"`, ...).
///
/// ```no_run
/// let arrays = graft_nn::formats::read_npz("dataset.npz")?;
/// let (x, y) = (&arrays["x"], &arrays["y"]);
/// let labels = y.to_labels()?;
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn read_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, RawArray>> {
    let path = path.as_ref();
    parse_npz(&fileio::read(path)?, &path.display().to_string())
}

/// Parses the bytes of an `.npz` archive; `name` is used in error messages.
///
/// Directory entries are skipped; any other entry must be a `.npy` file, and names must be unique.
pub fn parse_npz(bytes: &[u8], name: &str) -> Result<BTreeMap<String, RawArray>> {
    let mut arrays = BTreeMap::new();
    for entry in zip::entries(bytes, name)? {
        if entry.name.ends_with('/') {
            continue;
        }
        let Some(key) = entry.name.strip_suffix(".npy") else {
            return Err(FormatError::corrupt(
                name,
                format!("entry '{}' is not a .npy array", entry.name),
                "an .npz archive must hold only .npy files; write it with np.savez",
            ));
        };
        let npy = zip::extract(bytes, &entry, name)?;
        let array = parse_npy(&npy, &entry.name).map_err(|e| e.within(name))?;
        if arrays.insert(key.to_string(), array).is_some() {
            return Err(FormatError::corrupt(
                name,
                format!("the archive holds two entries named '{}'", entry.name),
                "write it again with unique array names",
            ));
        }
    }
    Ok(arrays)
}

/// Encodes named arrays as `.npz` bytes (entries stored uncompressed, each name gets the `.npy` suffix).
pub fn encode_npz(arrays: &[(&str, &RawArray)]) -> Result<Vec<u8>> {
    let mut files = Vec::with_capacity(arrays.len());
    for (i, (key, array)) in arrays.iter().enumerate() {
        if key.is_empty() || arrays[..i].iter().any(|(k, _)| k == key) {
            return Err(FormatError::invalid(format!("array name '{key}' is empty or used twice")));
        }
        files.push((format!("{key}.npy"), encode_npy(array)?));
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    zip::write_stored(&refs)
}

/// Writes named arrays as an `.npz` archive that `np.load` reads. The write is atomic.
///
/// ```no_run
/// use graft_nn::formats::{write_npz, RawArray, RawData};
/// let x = RawArray::new(vec![2, 2], RawData::F32(vec![0.0, 1.0, 2.0, 3.0]))?;
/// let y = RawArray::new(vec![2], RawData::I64(vec![1, 0]))?;
/// write_npz("data.npz", &[("x", &x), ("y", &y)])?;
/// # Ok::<(), graft_nn::formats::FormatError>(())
/// ```
pub fn write_npz(path: impl AsRef<Path>, arrays: &[(&str, &RawArray)]) -> Result<()> {
    fileio::write_atomic(path.as_ref(), &encode_npz(arrays)?)
}
