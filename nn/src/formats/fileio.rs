//! Reading whole files and writing them atomically, with errors that name the file.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::error::{FormatError, Result};

/// Reads a whole file; its real size bounds the allocation.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| FormatError::io(&path.display().to_string(), e))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so that a crash never leaves
/// a half-written file under the final name.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.display().to_string();
    let file_name = path.file_name().ok_or_else(|| {
        FormatError::io(&name, std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(FormatError::io(&name, e));
    }
    Ok(())
}
