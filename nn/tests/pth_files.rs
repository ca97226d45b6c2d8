//! PyTorch `.pth`/`.pt` state dicts (fixtures from `tests/data/pth/make_pth_fixtures.py`):
//! both layouts read every value exactly, views and dtypes included; they load strictly into
//! graft models; malicious, damaged and absurd files are refused without panicking.

use graft_engine::Tensor;
use graft_nn::formats::{is_pth, parse_pth, read_pth, DType, RawData};
use graft_nn::model_file::{read_tensors, FileFormat, LoadOptions};
use graft_nn::{
    inspect, load_model, load_model_with_spec, load_state_dict, load_state_dict_from_bytes, parse_spec, Module,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pth");
const CNN_SPEC: &str =
    "features=[conv2d(1,4,3,padding=1),batchnorm2d(4),relu,maxpool2d(2)],flatten,classifier=[linear(16,2)]";
const VALUE_FIXTURES: [&str; 7] = [
    "cnn_zip.pth",
    "cnn_legacy.pth",
    "cnn_deflated.pth",
    "views_zip.pt",
    "views_legacy.pt",
    "dtypes_zip.pt",
    "dtypes_legacy.pt",
];
const EVIL: [(&str, &str); 3] = [
    ("evil_os_system.pth", "posix.system"),
    // Python's protocol 2 spells `builtins` the Python 2 way.
    ("evil_eval_legacy.pt", "__builtin__.eval"),
    ("evil_nested.pth", "posix.system"),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

fn expected() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        _ => panic!("expected.json holds an object"),
    }
}

fn error<T>(r: Result<T, impl std::fmt::Display>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The dtype graft gives a PyTorch dtype (bfloat16 is widened to f32 exactly).
fn dtype_of(torch: &str) -> DType {
    match torch {
        "float32" | "bfloat16" => DType::F32,
        "float16" => DType::F16,
        "float64" => DType::F64,
        "int64" => DType::I64,
        "int32" => DType::I32,
        "int16" => DType::I16,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "bool" => DType::Bool,
        other => panic!("no dtype {other}"),
    }
}

/// Every value compared exactly: floats bit for bit, as f64 (every f32 is one exactly).
fn assert_values(file: &str, name: &str, data: &RawData, want: &[Value]) {
    let floats = |v: Vec<f64>| {
        assert_eq!(v.len(), want.len(), "{file} {name}");
        for (i, (g, w)) in v.iter().zip(want).enumerate() {
            let w = w.as_f64().unwrap();
            assert_eq!(g.to_bits(), w.to_bits(), "{file} {name}[{i}]: {g} vs {w}");
        }
    };
    let ints = |v: Vec<i64>| {
        let w: Vec<i64> = want.iter().map(|w| w.as_i64().unwrap()).collect();
        assert_eq!(v, w, "{file} {name}");
    };
    match data {
        RawData::F32(v) | RawData::F16(v) => floats(v.iter().map(|&x| f64::from(x)).collect()),
        RawData::F64(v) => floats(v.clone()),
        RawData::I64(v) => ints(v.clone()),
        RawData::I32(v) => ints(v.iter().map(|&x| i64::from(x)).collect()),
        RawData::I16(v) => ints(v.iter().map(|&x| i64::from(x)).collect()),
        RawData::I8(v) => ints(v.iter().map(|&x| i64::from(x)).collect()),
        RawData::U8(v) => ints(v.iter().map(|&x| i64::from(x)).collect()),
        RawData::Bool(v) => ints(v.iter().map(|&x| i64::from(x)).collect()),
        other => panic!("{file} {name}: unexpected {:?}", other.dtype()),
    }
}

#[test]
fn both_layouts_read_every_value_exactly() {
    let expected = expected();
    for file in VALUE_FIXTURES {
        let want = expected[file].as_array().unwrap();
        let got = read_pth(fixture(file)).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        let want_names: Vec<&str> = want.iter().map(|w| w["name"].as_str().unwrap()).collect();
        assert_eq!(names, want_names, "{file}: names in the state dict's order");
        for ((name, array), w) in got.iter().zip(want) {
            let shape: Vec<usize> =
                w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(array.shape, shape, "{file} {name}");
            assert_eq!(array.dtype(), dtype_of(w["dtype"].as_str().unwrap()), "{file} {name}");
            assert_values(file, name, &array.data, w["values"].as_array().unwrap());
        }
    }
}

#[test]
fn views_and_dtypes_are_what_the_fixtures_claim() {
    // Guards the fixtures themselves: the views file must hold views, the dtypes file every type.
    let views = read_pth(fixture("views_zip.pt")).unwrap();
    let get = |name: &str| views.iter().find(|(n, _)| n == name).map(|(_, a)| a.to_f32()).unwrap();
    let base = get("base");
    let transposed = get("transposed");
    for r in 0..3 {
        for c in 0..4 {
            assert_eq!(transposed[c * 3 + r], base[r * 4 + c]);
        }
    }
    let expanded = get("expanded");
    assert!(expanded.chunks(4).all(|row| row.iter().all(|&v| v == row[0])));
    assert_eq!(get("scalar"), [3.5]);
    assert!(get("empty").is_empty());
    let dtypes: Vec<DType> = read_pth(fixture("dtypes_legacy.pt")).unwrap().iter().map(|(_, a)| a.dtype()).collect();
    assert_eq!(
        dtypes,
        [
            DType::F32,
            DType::F16,
            DType::F32,
            DType::F64,
            DType::I64,
            DType::I32,
            DType::I16,
            DType::I8,
            DType::U8,
            DType::Bool
        ]
    );
}

#[test]
fn a_pth_state_dict_loads_strictly_into_a_matching_model() {
    let expected = expected();
    let forward = &expected["cnn_forward"];
    let input: Vec<f32> = forward["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let want: Vec<f32> = forward["output"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    for file in ["cnn_zip.pth", "cnn_legacy.pth", "cnn_deflated.pth"] {
        let model = parse_spec(CNN_SPEC, 0).unwrap();
        load_state_dict(&model, fixture(file), LoadOptions::default()).unwrap();
        let values = expected[file].as_array().unwrap();
        for (name, t) in model.state_dict() {
            let entry = values.iter().find(|w| w["name"] == name.as_str()).unwrap();
            let w: Vec<f32> = entry["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(t.to_vec().unwrap(), w, "{file} {name}");
        }
        model.set_training(false);
        let y = model.forward(&Tensor::from_vec(input.clone(), &[2, 1, 4, 4]).unwrap()).unwrap();
        let got = y.to_vec().unwrap();
        assert_eq!(y.shape(), &[2, 2]);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{file}: output {got:?} vs PyTorch {want:?}");
        }
        // Through a spec, and from bytes.
        load_model_with_spec(fixture(file), CNN_SPEC).unwrap();
        let bytes = std::fs::read(fixture(file)).unwrap();
        load_state_dict_from_bytes(&model, &bytes, LoadOptions::default()).unwrap();
    }
}

#[test]
fn a_mismatched_model_lists_every_problem() {
    let model = parse_spec("features=[conv2d(1,4,3,padding=1),relu,maxpool2d(2)],flatten,classifier=[linear(16,3)]", 0)
        .unwrap();
    let e = error(load_state_dict(&model, fixture("cnn_legacy.pth"), LoadOptions::default()));
    let file = fixture("cnn_legacy.pth").display().to_string();
    assert!(e.starts_with(&format!("{file}: the file does not match the model")), "{e}");
    for part in [
        "unexpected in the file (5)",
        "features.1.num_batches_tracked [] I64",
        "wrong shape (2)",
        "classifier.0.weight: file [2, 16], model [3, 16]",
    ] {
        assert!(e.contains(part), "{part}: {e}");
    }
    // A graft model file it is not: the architecture must be given.
    let e = error(load_model(fixture("cnn_zip.pth")));
    assert!(e.contains("does not say its architecture"), "{e}");
}

#[test]
fn inspect_and_read_tensors_take_pth_files() {
    let zip = inspect(fixture("cnn_zip.pth")).unwrap();
    assert_eq!(zip.format, FileFormat::PthZip);
    assert_eq!(inspect(fixture("cnn_legacy.pth")).unwrap().format, FileFormat::PthLegacy);
    let t = zip.tensors.iter().find(|t| t.name == "features.1.num_batches_tracked").unwrap();
    assert_eq!((t.dtype.as_str(), t.shape.as_slice()), ("I64", &[] as &[usize]));
    assert_eq!(zip.tensors.len(), 9);
    assert!(zip.to_string().contains("PyTorch zip file, 9 tensors, 91 values"), "{zip}");
    let dtypes = inspect(fixture("dtypes_zip.pt")).unwrap();
    let names: Vec<&str> = dtypes.tensors.iter().map(|t| t.dtype.as_str()).collect();
    assert!(["BF16", "F16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F32"].iter().all(|d| names.contains(d)));
    let tensors = read_tensors(fixture("views_legacy.pt")).unwrap();
    let transposed = &tensors.iter().find(|(n, _)| n == "transposed").unwrap().1;
    assert_eq!(transposed.shape(), &[4, 3]);
    assert_eq!(transposed.to_vec().unwrap()[..3], [0.0, 0.5, 1.0]);
}

#[test]
fn code_in_a_pickle_is_refused_by_name() {
    for (file, global) in EVIL {
        let e = error(read_pth(fixture(file)));
        let label = fixture(file).display().to_string();
        assert!(e.starts_with(&format!("{label}: refusing to load `{global}`")), "{e}");
        assert!(e.contains("a state dict only needs collections.OrderedDict"), "{e}");
        assert!(e.contains("torch.save(model.state_dict(), path)"), "{e}");
        let model = parse_spec(CNN_SPEC, 0).unwrap();
        let e = error(load_state_dict(&model, fixture(file), LoadOptions::default()));
        assert!(e.contains(&format!("refusing to load `{global}`")), "{e}");
    }
}

#[test]
fn a_checkpoint_is_not_a_state_dict() {
    let e = error(read_pth(fixture("checkpoint.pth")));
    assert!(e.contains("entry `epoch` is an int, not a tensor"), "{e}");
    assert!(e.contains("checkpoint[\"state_dict\"]"), "{e}");
}

#[test]
fn sniffing_tells_pth_from_safetensors() {
    for file in VALUE_FIXTURES {
        assert!(is_pth(&std::fs::read(fixture(file)).unwrap()), "{file}");
    }
    let st = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pytorch-cnn/mnist_cnn.safetensors");
    assert!(!is_pth(&std::fs::read(st).unwrap()));
    assert!(!is_pth(b""));
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
    let model = parse_spec(CNN_SPEC, 0).unwrap();
    for file in VALUE_FIXTURES.iter().chain(&EVIL.map(|(f, _)| f)) {
        let bytes = std::fs::read(fixture(file)).unwrap();
        for len in 0..bytes.len() {
            assert!(parse_pth(&bytes[..len], "cut.pth").is_err(), "{file} cut to {len} bytes was accepted");
        }
        assert!(load_state_dict_from_bytes(&model, &bytes[..bytes.len() / 2], LoadOptions::default()).is_err());
        let mut flipped = bytes.clone();
        for (i, &b) in bytes.iter().enumerate() {
            flipped[i] = !b;
            let _ = parse_pth(&flipped, "flipped.pth");
            flipped[i] = b;
        }
    }
}

/// A legacy-format file: header pickles, `main` (the state-dict pickle, protocol 2), the
/// storage keys, and each storage's element count and bytes.
fn legacy(main: &[u8], storages: &[(&str, u64, &[u8])]) -> Vec<u8> {
    let mut f = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.\x80\x02}.".to_vec();
    f.extend_from_slice(main);
    f.extend_from_slice(b"\x80\x02(");
    for (key, _, _) in storages {
        f.extend_from_slice(&str_op(key));
    }
    f.extend_from_slice(b"l.");
    for (_, count, data) in storages {
        f.extend_from_slice(&count.to_le_bytes());
        f.extend_from_slice(data);
    }
    f
}

fn str_op(s: &str) -> Vec<u8> {
    let mut v = vec![b'X'];
    v.extend_from_slice(&(s.len() as u32).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v
}

fn int_op(i: u64) -> Vec<u8> {
    let mut v = vec![0x8a, 9];
    v.extend_from_slice(&i.to_le_bytes());
    v.push(0);
    v
}

/// `{"w": tensor(storage "0" of `numel` floats, offset, shape, stride)}` as a pickle.
fn one_tensor(numel: u64, offset: u64, shape: &[u64], stride: &[u64]) -> Vec<u8> {
    let mut p = b"\x80\x02}(".to_vec();
    p.extend(str_op("w"));
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    p.extend(str_op("storage"));
    p.extend_from_slice(b"ctorch\nFloatStorage\n");
    p.extend(str_op("0"));
    p.extend(str_op("cpu"));
    p.extend(int_op(numel));
    p.extend_from_slice(b"NtQ");
    p.extend(int_op(offset));
    for dims in [shape, stride] {
        p.push(b'(');
        for &d in dims {
            p.extend(int_op(d));
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89}tRu.");
    p
}

#[test]
fn hand_made_legacy_files_read_and_absurd_sizes_are_refused_before_allocating() {
    let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let ok = legacy(&one_tensor(4, 1, &[3], &[1]), &[("0", 4, &floats)]);
    let got = parse_pth(&ok, "ok.pth").unwrap();
    assert_eq!(got[0].1.to_f32(), [2.0, 3.0, 4.0]);
    for (file, want) in [
        (legacy(&one_tensor(1 << 60, 0, &[1], &[1]), &[("0", 1 << 60, &floats)]), "needs 4611686018427387904 bytes"),
        (legacy(&one_tensor(u64::MAX, 0, &[1], &[1]), &[("0", u64::MAX, &floats)]), "too many to address"),
        (
            legacy(&one_tensor(4, 0, &[1 << 32, 1 << 32, 1 << 32], &[0, 0, 0]), &[("0", 4, &floats)]),
            "more elements than",
        ),
        (legacy(&one_tensor(4, 0, &[3], &[2]), &[("0", 4, &floats)]), "reaches element 4 of a storage of 4"),
        (legacy(&one_tensor(4, u64::MAX, &[2], &[1]), &[("0", 4, &floats)]), "reaches element"),
        (legacy(&one_tensor(4, 0, &[1 << 26], &[0]), &[("0", 4, &floats)]), "views repeating one storage"),
        (legacy(&one_tensor(4, 0, &[2], &[1]), &[("0", 3, &floats)]), "holds 3 elements but the pickle says 4"),
        (legacy(&one_tensor(4, 0, &[2], &[1]), &[]), "does not hold it"),
        (legacy(&one_tensor(4, 0, &[2], &[1]), &[("1", 4, &floats)]), "never refers to it"),
    ] {
        let e = error(parse_pth(&file, "absurd.pth"));
        assert!(e.starts_with("absurd.pth: ") && e.contains(want), "{want}: {e}");
    }
}

#[test]
fn hand_made_zip_files_are_checked_like_legacy_ones() {
    use std::io::Write;
    let zip = |pickle: &[u8], storage: &[u8]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("m/data.pkl", stored).unwrap();
        w.write_all(pickle).unwrap();
        w.start_file("m/data/0", stored).unwrap();
        w.write_all(storage).unwrap();
        w.finish().unwrap().into_inner()
    };
    let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let ok = zip(&one_tensor(4, 0, &[2, 2], &[1, 2]), &floats);
    assert_eq!(parse_pth(&ok, "ok.pth").unwrap()[0].1.to_f32(), [1.0, 3.0, 2.0, 4.0]);
    let short = zip(&one_tensor(1 << 40, 0, &[1], &[1]), &floats);
    let e = error(parse_pth(&short, "short.pth"));
    assert!(e.contains("holds 16 bytes but the pickle needs 4398046511104"), "{e}");
    let e = error(parse_pth(&zip(b"\x80\x02K\x01.", b""), "int.pth"));
    assert!(e.contains("the file holds an int, not a state dict"), "{e}");
}
