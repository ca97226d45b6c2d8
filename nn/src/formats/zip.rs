//! A small zip reader (stored and deflated entries, no zip64, no encryption) and a stored-only zip writer:
//! just enough for `.npz` archives.
//!
//! The reader trusts the central directory for sizes (NumPy writes zip64 extras into *local* headers,
//! which are skipped) and checks every offset and size against the archive's real length before use.

use std::io::Read;

use flate2::read::DeflateDecoder;
use flate2::Crc;

use super::error::{FormatError, Result};

const LOCAL_SIG: [u8; 4] = *b"PK\x03\x04";
const CENTRAL_SIG: [u8; 4] = *b"PK\x01\x02";
const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// One file in a zip archive, as its central directory describes it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) name: String,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed_size: usize,
    uncompressed_size: usize,
    local_offset: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

const RESAVE: &str = "re-save it with np.savez or np.savez_compressed";

/// Lists the entries of the archive in `bytes`; `name` is used in error messages.
pub(crate) fn entries(bytes: &[u8], name: &str) -> Result<Vec<Entry>> {
    let eocd = find_eocd(bytes).ok_or_else(|| {
        if bytes.starts_with(&LOCAL_SIG) {
            FormatError::truncated(name, "the zip archive has no end-of-central-directory record")
        } else if bytes.starts_with(b"\x93NUMPY") {
            FormatError::corrupt(name, "this is a single .npy array, not an .npz archive", "read it as .npy")
        } else {
            FormatError::corrupt(name, "not a zip archive (no end-of-central-directory record)", RESAVE)
        }
    })?;
    let e = &bytes[eocd..];
    let (disk, cd_disk) = (u16_at(e, 4), u16_at(e, 6));
    let (on_disk, count) = (u16_at(e, 8), u16_at(e, 10));
    let (cd_size, cd_offset) = (u32_at(e, 12), u32_at(e, 16));
    let zip64 = eocd >= 20 && bytes[eocd - 20..eocd - 16] == ZIP64_LOCATOR_SIG;
    if zip64 || count == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX {
        return Err(FormatError::unsupported(
            name,
            "zip64 archives (over 4 GiB or 65535 entries) are not supported",
            "split the data into several smaller .npz files",
        ));
    }
    if disk != 0 || cd_disk != 0 || on_disk != count {
        return Err(FormatError::unsupported(name, "multi-part (spanned) zip archives are not supported", RESAVE));
    }
    let (cd_start, cd_size) = (cd_offset as usize, cd_size as usize);
    let cd_end = cd_start.checked_add(cd_size).filter(|&end| end <= eocd).ok_or_else(|| {
        FormatError::truncated(
            name,
            format!(
                "the zip central directory claims bytes {cd_start}..{} but the archive has {eocd}",
                cd_start + cd_size
            ),
        )
    })?;
    let cd = &bytes[cd_start..cd_end];
    let mut out = Vec::with_capacity(usize::from(count));
    let mut at = 0usize;
    for i in 0..count {
        let damaged = || {
            FormatError::corrupt(
                name,
                format!("zip central directory entry {i} is damaged"),
                "download or write it again",
            )
        };
        let h = cd.get(at..at + CENTRAL_LEN).ok_or_else(damaged)?;
        if h[..4] != CENTRAL_SIG {
            return Err(damaged());
        }
        let (name_len, extra_len, comment_len) =
            (usize::from(u16_at(h, 28)), usize::from(u16_at(h, 30)), usize::from(u16_at(h, 32)));
        let entry_name = cd.get(at + CENTRAL_LEN..at + CENTRAL_LEN + name_len).ok_or_else(damaged)?;
        let entry = Entry {
            name: String::from_utf8_lossy(entry_name).into_owned(),
            flags: u16_at(h, 8),
            method: u16_at(h, 10),
            crc32: u32_at(h, 16),
            compressed_size: u32_at(h, 20) as usize,
            uncompressed_size: u32_at(h, 24) as usize,
            local_offset: u32_at(h, 42) as usize,
        };
        if [entry.compressed_size, entry.uncompressed_size, entry.local_offset].contains(&(u32::MAX as usize)) {
            return Err(FormatError::unsupported(
                name,
                format!("entry '{}' uses zip64 sizes, which are not supported", entry.name),
                "split the data into several smaller .npz files",
            ));
        }
        at += CENTRAL_LEN + name_len + extra_len + comment_len;
        out.push(entry);
    }
    Ok(out)
}

/// Finds the end-of-central-directory record: the last signature whose comment fits in the file.
fn find_eocd(bytes: &[u8]) -> Option<usize> {
    let last = bytes.len().checked_sub(EOCD_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    (first..=last)
        .rev()
        .find(|&i| bytes[i..i + 4] == EOCD_SIG && i + EOCD_LEN + usize::from(u16_at(bytes, i + 20)) <= bytes.len())
}

/// Returns the uncompressed bytes of one entry, checking sizes and CRC-32.
pub(crate) fn extract(bytes: &[u8], entry: &Entry, name: &str) -> Result<Vec<u8>> {
    let ename = &entry.name;
    if entry.flags & 1 != 0 {
        return Err(FormatError::unsupported(
            name,
            format!("entry '{ename}' is encrypted"),
            "write the archive without a password",
        ));
    }
    let header = entry
        .local_offset
        .checked_add(LOCAL_LEN)
        .and_then(|end| bytes.get(entry.local_offset..end))
        .ok_or_else(|| FormatError::truncated(name, format!("the archive ends before entry '{ename}'")))?;
    if header[..4] != LOCAL_SIG {
        return Err(FormatError::corrupt(
            name,
            format!("the local header of entry '{ename}' is missing"),
            "the archive is damaged; download or write it again",
        ));
    }
    let name_start = entry.local_offset + LOCAL_LEN;
    let local_name = bytes.get(name_start..name_start + usize::from(u16_at(header, 26)));
    if u16_at(header, 8) != entry.method || local_name.map(String::from_utf8_lossy).as_deref() != Some(ename) {
        return Err(FormatError::corrupt(
            name,
            format!("the local header of entry '{ename}' disagrees with the central directory"),
            "the archive is damaged; download or write it again",
        ));
    }
    let data_start = name_start + usize::from(u16_at(header, 26)) + usize::from(u16_at(header, 28));
    let data =
        data_start.checked_add(entry.compressed_size).and_then(|end| bytes.get(data_start..end)).ok_or_else(|| {
            FormatError::truncated(
                name,
                format!(
                    "entry '{ename}' claims {} compressed bytes but the archive ends {} bytes after it starts",
                    entry.compressed_size,
                    bytes.len().saturating_sub(data_start)
                ),
            )
        })?;
    let out = match entry.method {
        0 => data.to_vec(),
        8 => {
            // Read at most one byte more than promised: memory grows only with bytes that really inflate.
            let mut out = Vec::new();
            let limit = (entry.uncompressed_size as u64).saturating_add(1);
            DeflateDecoder::new(data).take(limit).read_to_end(&mut out).map_err(|e| {
                FormatError::corrupt(
                    name,
                    format!("the deflate data of entry '{ename}' is corrupt ({e})"),
                    "the archive is damaged; download or write it again",
                )
            })?;
            out
        }
        m => {
            let what = match m {
                12 => "bzip2",
                14 => "lzma",
                93 => "zstandard",
                _ => "an unknown method",
            };
            return Err(FormatError::unsupported(
                name,
                format!(
                    "entry '{ename}' is compressed with {what} (zip method {m}); only stored and deflate are supported"
                ),
                RESAVE,
            ));
        }
    };
    if out.len() != entry.uncompressed_size {
        let problem = format!(
            "entry '{ename}' should hold {} bytes but yields {}",
            entry.uncompressed_size,
            if out.len() > entry.uncompressed_size { "more".to_string() } else { out.len().to_string() }
        );
        return Err(if out.len() < entry.uncompressed_size {
            FormatError::truncated(name, problem)
        } else {
            FormatError::corrupt(name, problem, "the archive is damaged; download or write it again")
        });
    }
    let mut crc = Crc::new();
    crc.update(&out);
    if crc.sum() != entry.crc32 {
        return Err(FormatError::corrupt(
            name,
            format!("entry '{ename}' fails its CRC-32 check"),
            "the archive is damaged; download or write it again",
        ));
    }
    Ok(out)
}

/// Builds a zip archive holding `files` uncompressed (method 0), UTF-8 names, timestamps at 1980-01-01.
pub(crate) fn write_stored(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let too_big = || FormatError::invalid("the archive would exceed 4 GiB or 65535 entries, which needs zip64");
    let count = u16::try_from(files.len()).ok().filter(|&c| c < u16::MAX).ok_or_else(too_big)?;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (fname, data) in files {
        let offset = u32::try_from(out.len()).ok().filter(|&o| o < u32::MAX).ok_or_else(too_big)?;
        let size = u32::try_from(data.len()).ok().filter(|&s| s < u32::MAX).ok_or_else(too_big)?;
        let name_len = u16::try_from(fname.len()).map_err(|_| FormatError::invalid("an entry name is too long"))?;
        let mut crc = Crc::new();
        crc.update(data);
        // version needed, flags (bit 11: UTF-8 name), method, time, date, crc, sizes, name length, extra length
        let mut common = Vec::with_capacity(26);
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0x0800u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0x0021u16.to_le_bytes());
        common.extend_from_slice(&crc.sum().to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&name_len.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());

        out.extend_from_slice(&LOCAL_SIG);
        out.extend_from_slice(&common);
        out.extend_from_slice(fname.as_bytes());
        out.extend_from_slice(data);

        central.extend_from_slice(&CENTRAL_SIG);
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(fname.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).ok().filter(|&o| o < u32::MAX).ok_or_else(too_big)?;
    let cd_size = u32::try_from(central.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&central);
    out.extend_from_slice(&EOCD_SIG);
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_round_trip() {
        let zip = write_stored(&[("a.npy", b"hello"), ("dir/b.npy", b"")]).unwrap();
        let list = entries(&zip, "t.zip").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "a.npy");
        assert_eq!(extract(&zip, &list[0], "t.zip").unwrap(), b"hello");
        assert_eq!(extract(&zip, &list[1], "t.zip").unwrap(), b"");
    }

    #[test]
    fn every_prefix_is_an_error() {
        let zip = write_stored(&[("a.npy", b"hello world")]).unwrap();
        for n in 0..zip.len() {
            let prefix = &zip[..n];
            let r: Result<Vec<Vec<u8>>> =
                entries(prefix, "t.zip").and_then(|l| l.iter().map(|e| extract(prefix, e, "t.zip")).collect());
            assert!(r.is_err(), "prefix of {n} bytes was accepted");
        }
    }

    #[test]
    fn crc_mismatch_is_reported() {
        let mut zip = write_stored(&[("a.npy", b"hello world")]).unwrap();
        zip[LOCAL_LEN + 5] ^= 1; // first data byte
        let list = entries(&zip, "t.zip").unwrap();
        let err = extract(&zip, &list[0], "t.zip").unwrap_err().to_string();
        assert!(err.contains("CRC-32"), "{err}");
    }
}
