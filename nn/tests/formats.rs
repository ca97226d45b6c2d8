//! Format readers against fixtures written by NumPy (see tests/data/formats/make_fixtures.py), writer round trips,
//! and damaged or hostile files, which must give errors and never panic.

use std::path::{Path, PathBuf};

use graft_nn::formats::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats").join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("graft-formats-{}-{name}", std::process::id()))
}

/// The values make_fixtures.py stores for each NumPy dtype code, shape 3x4.
fn expected(code: &str) -> RawData {
    let i = 0..12i64;
    match code {
        "b1" => RawData::Bool(i.map(|i| i % 3 == 0).collect()),
        "u1" => RawData::U8(i.map(|i| (i * 20 + 3) as u8).collect()),
        "u2" => RawData::U16(i.map(|i| (i * 5000) as u16).collect()),
        "u4" => RawData::U32(i.map(|i| (i * 300_000_000) as u32).collect()),
        "u8" => RawData::U64(i.map(|i| i as u64 * 1_500_000_000_000_000_000).collect()),
        "i1" => RawData::I8(i.map(|i| ((i - 6) * 20) as i8).collect()),
        "i2" => RawData::I16(i.map(|i| ((i - 6) * 5000) as i16).collect()),
        "i4" => RawData::I32(i.map(|i| ((i - 6) * 300_000_000) as i32).collect()),
        "i8" => RawData::I64(i.map(|i| (i - 6) * 1_500_000_000_000_000_000).collect()),
        "f2" => RawData::F16(i.map(|i| (i as f32 - 5.5) * 0.25).collect()),
        "f4" => RawData::F32(i.map(|i| ((i as f64 - 5.5) * 0.1) as f32).collect()),
        "f8" => RawData::F64(i.map(|i| (i as f64 - 5.5) * 0.1).collect()),
        _ => unreachable!(),
    }
}

const CODES: [&str; 12] = ["b1", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8"];

fn npy_fixture_names() -> Vec<String> {
    CODES
        .iter()
        .flat_map(|c| {
            if ["b1", "u1", "i1"].contains(c) {
                vec![format!("{c}.npy")]
            } else {
                vec![format!("{c}_le.npy"), format!("{c}_be.npy")]
            }
        })
        .collect()
}

#[test]
fn npy_every_dtype_in_both_byte_orders() {
    for name in npy_fixture_names() {
        let a = read_npy(fixture(&name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.shape, vec![3, 4], "{name}");
        assert_eq!(a.data, expected(&name[..2]), "{name}");
    }
}

#[test]
fn npy_writer_matches_numpy_byte_for_byte() {
    for name in npy_fixture_names().into_iter().filter(|n| !n.ends_with("_be.npy")) {
        let bytes = fixture_bytes(&name);
        let a = parse_npy(&bytes, &name).unwrap();
        assert_eq!(encode_npy(&a).unwrap(), bytes, "{name}");
    }
    for name in ["scalar_f8.npy", "empty_f4.npy", "f16_special.npy"] {
        let bytes = fixture_bytes(name);
        assert_eq!(encode_npy(&parse_npy(&bytes, name).unwrap()).unwrap(), bytes, "{name}");
    }
}

#[test]
fn npy_fortran_order_is_transposed_to_row_major() {
    let a = read_npy(fixture("fortran_i4.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3, 4]);
    assert_eq!(a.data, RawData::I32((0..24).collect()));
    let b = read_npy(fixture("fortran_f8_be.npy")).unwrap();
    assert_eq!(b.shape, vec![2, 3]);
    assert_eq!(b.data, RawData::F64((0..6).map(f64::from).collect()));
}

#[test]
fn npy_scalar_empty_special_values_and_header_versions() {
    let s = read_npy(fixture("scalar_f8.npy")).unwrap();
    assert_eq!((s.shape.clone(), s.data.clone()), (vec![], RawData::F64(vec![3.5])));
    assert_eq!(s.to_f32(), vec![3.5]);

    let e = read_npy(fixture("empty_f4.npy")).unwrap();
    assert_eq!((e.shape, e.data), (vec![0, 3], RawData::F32(vec![])));

    let h = read_npy(fixture("f16_special.npy")).unwrap().to_f32();
    assert_eq!(&h[..7], &[0.0, -0.0, 1.0, 65504.0, 2f32.powi(-24), f32::INFINITY, f32::NEG_INFINITY]);
    assert!(h[1].is_sign_negative() && h[7].is_nan());

    for name in ["v2_f4.npy", "v3_f4.npy"] {
        let bytes = fixture_bytes(name);
        assert_eq!(bytes[6], name.as_bytes()[1] - b'0', "fixture has the header version it claims");
        let a = parse_npy(&bytes, name).unwrap();
        assert_eq!((a.shape, a.data), (vec![3, 4], expected("f4")), "{name}");
    }
}

#[test]
fn npy_unsupported_dtypes_are_refused_clearly() {
    for (name, says) in
        [("object.npy", "Python objects"), ("complex.npy", "complex numbers"), ("structured.npy", "structured")]
    {
        let err = read_npy(fixture(name)).unwrap_err();
        assert!(matches!(err, FormatError::Unsupported { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(says), "{msg}");
    }
}

fn check_npz(arrays: &std::collections::BTreeMap<String, RawArray>) {
    assert_eq!(arrays.keys().collect::<Vec<_>>(), ["arr_0", "x", "y"]);
    assert_eq!(arrays["arr_0"].data, RawData::I32((0..5).collect()));
    assert_eq!(arrays["x"].shape, vec![20, 30]);
    assert_eq!(arrays["x"].to_f32(), (0..600).map(|i| (i % 7) as f32 * 0.5).collect::<Vec<_>>());
    assert_eq!(arrays["y"].to_labels().unwrap(), vec![0, 2, 1]);
}

#[test]
fn npz_stored_and_deflated() {
    check_npz(&read_npz(fixture("stored.npz")).unwrap());
    check_npz(&read_npz(fixture("deflated.npz")).unwrap());
}

#[test]
fn npz_round_trip() {
    let stored = read_npz(fixture("deflated.npz")).unwrap();
    let named: Vec<(&str, &RawArray)> = stored.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let path = scratch("round.npz");
    write_npz(&path, &named).unwrap();
    check_npz(&read_npz(&path).unwrap());
    std::fs::remove_file(path).unwrap();
    assert!(encode_npz(&[("x", named[0].1), ("x", named[1].1)]).is_err(), "duplicate names are refused");
}

#[test]
fn idx_every_type() {
    for code in ["u1", "i1", "i2", "i4", "f4", "f8"] {
        let name = format!("{code}.idx");
        let bytes = fixture_bytes(&name);
        let a = parse_idx(&bytes, &name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.shape.clone(), a.data.clone()), (vec![3, 4], expected(code)), "{name}");
        assert_eq!(encode_idx(&a).unwrap(), bytes, "{name} re-encodes byte for byte");
    }
}

#[test]
fn idx_plain_and_gzipped() {
    for suffix in ["", ".gz"] {
        let images = read_idx(fixture(&format!("images-idx3-ubyte{suffix}"))).unwrap();
        assert_eq!(images.shape, vec![5, 4, 3]);
        assert_eq!(images.data, RawData::U8((0..60).map(|i| (i * 4) as u8).collect()));
        assert_eq!(images.to_f32()[59], 236.0, "u8 is not scaled");
        let labels = read_idx(fixture(&format!("labels-idx1-ubyte{suffix}"))).unwrap();
        assert_eq!(labels.to_labels().unwrap(), vec![7, 2, 1, 0, 4]);
    }
}

#[test]
fn idx_and_npy_round_trips_through_files() {
    let a = RawArray::new(vec![2, 3], RawData::F32(vec![0.5, -1.0, 2.25, 3.0, f32::MAX, f32::MIN_POSITIVE])).unwrap();
    for name in ["a.idx", "a.idx.gz"] {
        let path = scratch(name);
        write_idx(&path, &a).unwrap();
        assert_eq!(read_idx(&path).unwrap(), a, "{name}");
        let head = std::fs::read(&path).unwrap()[..2].to_vec();
        assert_eq!(head == [0x1f, 0x8b], name.ends_with(".gz"), "only .gz paths are compressed");
        std::fs::remove_file(path).unwrap();
    }

    let labels = RawArray::new(vec![4], RawData::I64(vec![3, 0, 9, 1])).unwrap();
    let path = scratch("labels.npy");
    write_npy(&path, &labels).unwrap();
    assert_eq!(read_npy(&path).unwrap(), labels);
    std::fs::remove_file(path).unwrap();
    let scalar = RawArray::new(vec![], RawData::F32(vec![1.5])).unwrap();
    assert_eq!(parse_npy(&encode_npy(&scalar).unwrap(), "s.npy").unwrap(), scalar);

    let no_idx = RawArray::new(vec![1], RawData::I64(vec![1])).unwrap();
    assert!(matches!(encode_idx(&no_idx), Err(FormatError::InvalidArray { .. })));
    let mismatched = RawArray { shape: vec![2, 2], data: RawData::F32(vec![1.0]) };
    assert!(encode_npy(&mismatched).unwrap_err().to_string().contains("calls for 4 elements"));
}

fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".py"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), fixture_bytes(&n))).collect()
}

/// Runs the reader that fits the file name; the result is ignored, only panics matter here.
fn parse_any(name: &str, bytes: &[u8]) -> Result<()> {
    if name.ends_with(".npy") {
        parse_npy(bytes, name).map(drop)
    } else if name.ends_with(".npz") {
        parse_npz(bytes, name).map(drop)
    } else {
        parse_idx(bytes, name).map(drop)
    }
}

#[test]
fn every_truncation_of_every_fixture_is_an_error() {
    for (name, bytes) in all_fixtures() {
        for n in 0..bytes.len() {
            assert!(parse_any(&name, &bytes[..n]).is_err(), "{name} cut to {n} bytes was accepted");
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (name, bytes) in all_fixtures() {
        // Every single byte replaced by a few telling values...
        for at in 0..bytes.len() {
            for v in [0x00, 0xff, 0x7f, bytes[at] ^ 0x01] {
                let mut b = bytes.clone();
                b[at] = v;
                let _ = parse_any(&name, &b);
            }
        }
        // ...and random multi-byte damage.
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            let _ = parse_any(&name, &b);
        }
    }
}

#[test]
fn deflated_npz_damage_is_caught_by_checks() {
    let bytes = fixture_bytes("deflated.npz");
    let detected = |at: usize| {
        let mut b = bytes.clone();
        b[at] ^= 0x55;
        parse_npz(&b, "deflated.npz").is_err()
    };
    // Every flip inside compressed data is caught (by inflate, the size check or CRC-32).
    let mut at = 0;
    let mut checked = 0;
    while let Some(pos) = bytes[at..].windows(4).position(|w| w == b"PK\x03\x04") {
        let h = at + pos;
        let le16 = |i: usize| usize::from(u16::from_le_bytes([bytes[i], bytes[i + 1]]));
        let start = h + 30 + le16(h + 26) + le16(h + 28);
        // NumPy's local headers carry sizes in a zip64 extra field: compressed size is its second u64.
        let csize = u64::from_le_bytes(bytes[h + 30 + le16(h + 26) + 12..][..8].try_into().unwrap()) as usize;
        for i in start..start + csize {
            assert!(detected(i), "flip at {i} in entry data went unnoticed");
        }
        checked += csize;
        at = start + csize;
    }
    assert!(checked > 200, "walked {checked} bytes of compressed data");
    // Overall, only fields nobody checks (timestamps, versions, attributes, zip64 extras of local headers) pass.
    let total = (0..bytes.len()).filter(|&i| detected(i)).count();
    assert!(total * 10 > bytes.len() * 7, "only {total} of {} flips detected", bytes.len());
}

#[test]
fn hostile_idx_headers_fail_fast_without_allocating() {
    // 60000x28x28 u8 promised, 1000 bytes present: the message the user needs.
    let mut b = vec![0, 0, 0x08, 3];
    for d in [60000u32, 28, 28] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(0u8, 1000));
    let msg = parse_idx(&b, "train-images.idx3-ubyte").unwrap_err().to_string();
    assert_eq!(
        msg,
        "train-images.idx3-ubyte: IDX header says 60000x28x28 u8 (47040000 bytes) but only 1000 bytes follow \
         — the file is truncated; download or write it again"
    );

    // Dimensions whose product overflows.
    let mut b = vec![0, 0, 0x0E, 4];
    b.extend(std::iter::repeat_n(0xffu8, 16));
    let err = parse_idx(&b, "huge.idx").unwrap_err();
    assert!(matches!(err, FormatError::Corrupt { .. }) && err.to_string().contains("address"), "{err}");

    // 4 GiB promised inside a tiny gzip stream.
    let mut header = vec![0, 0, 0x08, 1];
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &header).unwrap();
    let err = parse_idx(&gz.finish().unwrap(), "bomb.gz").unwrap_err();
    assert!(err.to_string().contains("but only 0 bytes follow (after decompression)"), "{err}");

    // Trailing data and foreign files.
    let mut labels = fixture_bytes("labels-idx1-ubyte");
    labels.push(0);
    assert!(parse_idx(&labels, "l").unwrap_err().to_string().contains("more data follows"));
    let err = parse_idx(b"PK\x03\x04 not idx", "x.zip").unwrap_err().to_string();
    assert!(err.starts_with("x.zip: not an IDX file"), "{err}");
}

#[test]
fn hostile_npy_headers_fail_fast_without_allocating() {
    let npy = |header: &str, data: &[u8]| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    };
    let overflow = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000000000, 100000), }", &[]);
    assert!(matches!(parse_npy(&overflow, "o.npy"), Err(FormatError::Corrupt { .. })));
    let huge = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1000000000, 8), }", &[0; 12]);
    let msg = parse_npy(&huge, "h.npy").unwrap_err().to_string();
    assert_eq!(
        msg,
        "h.npy: .npy header says 1000000000x8 f32 (32000000000 bytes) but only 12 bytes follow \
         — the file is truncated; download or write it again"
    );
    for header in
        ["", "{", "{'descr': '<f4'}", "{'descr': '<f4', 'fortran_order': 1, 'shape': (2,)}", "{'shape': (-1,)"]
    {
        let err = parse_npy(&npy(header, &[]), "m.npy").unwrap_err();
        assert!(matches!(err, FormatError::Corrupt { .. }), "{header}: {err:?}");
    }
    let mut long = b"\x93NUMPY\x02\x00".to_vec();
    long.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(parse_npy(&long, "l.npy"), Err(FormatError::Truncated { .. })));
    let mut v9 = fixture_bytes("f4_le.npy");
    v9[6] = 9;
    assert!(parse_npy(&v9, "v9.npy").unwrap_err().to_string().contains("version 9.0 is not supported"));
    let zip = parse_npy(&fixture_bytes("stored.npz"), "s.npy").unwrap_err().to_string();
    assert!(zip.contains("read it as .npz"), "{zip}");
}

#[test]
fn hostile_npz_sizes_fail_fast_without_allocating() {
    let bytes = fixture_bytes("deflated.npz");
    // Patch the first central directory entry's uncompressed size to ~4 GiB.
    let cd = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let mut b = bytes.clone();
    b[cd + 24..cd + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let err = parse_npz(&b, "big.npz").unwrap_err();
    assert!(matches!(err, FormatError::Truncated { .. }), "{err}");
    // ...and its compressed size beyond the archive.
    let mut b = bytes.clone();
    b[cd + 20..cd + 24].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    assert!(matches!(parse_npz(&b, "big.npz"), Err(FormatError::Truncated { .. })));
    // Damage inside a stored entry is caught by its CRC-32.
    let stored = fixture_bytes("stored.npz");
    let at = stored.windows(6).position(|w| w == b"\x93NUMPY").unwrap();
    let mut b = stored.clone();
    b[at + 6] = 7;
    let err = parse_npz(&b, "s.npz").unwrap_err().to_string();
    assert!(err.starts_with("s.npz: ") && err.contains("CRC-32"), "{err}");
    assert!(read_npz(fixture("f4_le.npy")).unwrap_err().to_string().contains("read it as .npy"));
}

#[test]
fn npy_errors_inside_npz_name_archive_and_entry() {
    let bad = b"\x93NUMPY\x09\x00rest".to_vec();
    let zip = encode_npz(&[]).unwrap();
    assert!(parse_npz(&zip, "empty.npz").unwrap().is_empty());
    // Build an archive whose entry is a broken .npy, through the public writer's zip layout.
    let good = RawArray::new(vec![1], RawData::U8(vec![1])).unwrap();
    let mut archive = encode_npz(&[("a", &good)]).unwrap();
    let at = archive.windows(6).position(|w| w == b"\x93NUMPY").unwrap();
    let npy_len = encode_npy(&good).unwrap().len();
    let mut entry = bad.clone();
    entry.resize(npy_len, b' ');
    archive[at..at + npy_len].copy_from_slice(&entry);
    // Fix the CRC in the local and central headers so that the .npy parser sees the damage.
    let mut crc = flate2::Crc::new();
    crc.update(&entry);
    for sig in [b"PK\x03\x04", b"PK\x01\x02"] {
        let h = archive.windows(4).position(|w| w == sig).unwrap();
        let off = if sig == b"PK\x03\x04" { 14 } else { 16 };
        archive[h + off..h + off + 4].copy_from_slice(&crc.sum().to_le_bytes());
    }
    let err = parse_npz(&archive, "p.npz").unwrap_err().to_string();
    assert!(err.starts_with("p.npz[a.npy]: .npy format version 9.0"), "{err}");
}

#[test]
fn labels_refuse_what_is_not_a_class_index() {
    let bad = [
        (RawData::I64(vec![0, -3]), "position 1 is -3"),
        (RawData::F32(vec![1.0, 1.5]), "whole numbers"),
        (RawData::F64(vec![f64::NAN]), "finite"),
        (RawData::F32(vec![-1.0]), "negative"),
        (RawData::Bool(vec![true]), "boolean"),
    ];
    for (data, says) in bad {
        let a = RawArray::new(vec![data.len()], data).unwrap();
        let msg = a.to_labels().unwrap_err().to_string();
        assert!(msg.contains(says), "{msg}");
    }
    let ok = RawArray::new(vec![3], RawData::F32(vec![0.0, 2.0, 9.0])).unwrap();
    assert_eq!(ok.to_labels().unwrap(), vec![0, 2, 9]);
}

#[test]
fn missing_files_name_the_path() {
    let msg = read_idx("/nonexistent/train-images-idx3-ubyte").unwrap_err().to_string();
    assert!(msg.starts_with("/nonexistent/train-images-idx3-ubyte: ") && msg.contains("check the path"), "{msg}");
}

#[test]
fn real_fashion_mnist_when_installed() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let (images, labels) = (dir.join("t10k-images-idx3-ubyte.gz"), dir.join("t10k-labels-idx1-ubyte.gz"));
    if !images.exists() || !labels.exists() {
        println!("skipping: {} not installed (apt package dataset-fashion-mnist)", dir.display());
        return;
    }
    let images = read_idx(images).unwrap();
    assert_eq!(images.shape, vec![10000, 28, 28]);
    assert_eq!(images.dtype(), DType::U8);
    let labels = read_idx(labels).unwrap().to_labels().unwrap();
    assert_eq!(labels.len(), 10000);
    assert_eq!(labels[0], 9, "the first Fashion-MNIST test image is an ankle boot");
    assert!(labels.iter().all(|&l| l < 10));
}
