//! Model files: real PyTorch CNNs through the spec-string path, graft save/load round trips,
//! strict matching, dtype conversion, the Keras option, and damaged files.

use graft_engine::Tensor;
use graft_nn::model_file::{model_to_bytes, read_tensors, LoadOptions};
use graft_nn::{
    inspect, load_model, load_model_with_spec, load_state_dict, load_state_dict_from_bytes, parse_spec, save_model,
    Module, NnError, Sequential,
};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pytorch-cnn");
const MNIST_SPEC: &str = "features=[conv2d(1,32,3,padding=1),relu,maxpool2d(2),conv2d(32,64,3,padding=1),relu,maxpool2d(2)],flatten,classifier=[linear(3136,128),relu,linear(128,10)]";
const USPS_SPEC: &str = "features=[conv2d(1,32,3,padding=1),batchnorm2d(32),relu,maxpool2d(2),conv2d(32,64,3,padding=1),batchnorm2d(64),relu,maxpool2d(2)],flatten,classifier=[dropout(0.3),linear(1024,128),relu,dropout(0.3),linear(128,10)]";

fn fixture(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("graft-model-files-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn error_text<T>(r: Result<T, NnError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn bits(m: &dyn Module) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    m.state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec(), t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

/// The fixture's images normalised as its README says, and its reference logits.
fn reference(name: &str) -> (Tensor, Vec<f32>) {
    let tensors: HashMap<String, Tensor> = read_tensors(fixture(name)).unwrap().into_iter().collect();
    let x = &tensors["x"];
    let (n, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let norm: Vec<f32> = x.to_vec().unwrap().iter().map(|&u| (u / 255.0 - 0.1307) / 0.3081).collect();
    (Tensor::from_vec(norm, &[n, 1, h, w]).unwrap(), tensors["logits"].to_vec().unwrap())
}

/// Largest |got − ref| / max(1, |ref|).
fn worst_relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, r)| (g - r).abs() / r.abs().max(1.0)).fold(0.0, f32::max)
}

fn check_fixture(model_file: &str, spec: &str, reference_file: &str) -> Sequential {
    let model = load_model_with_spec(fixture(model_file), spec).unwrap();
    model.set_training(false);
    let (x, want) = reference(reference_file);
    let got = model.forward(&x).unwrap();
    assert_eq!(got.shape(), &[32, 10]);
    let err = worst_relative_error(&got.to_vec().unwrap(), &want);
    eprintln!("{model_file}: worst relative error {err:e}");
    assert!(err <= 1e-4, "{model_file}: logits differ from the reference by {err:e} (relative)");
    model
}

#[test]
fn pytorch_mnist_cnn_matches_reference_logits() {
    let model = check_fixture("mnist_cnn.safetensors", MNIST_SPEC, "mnist_cnn_reference.safetensors");
    assert_eq!(model.num_parameters(), 32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 128 + 128 + 128 * 10 + 10);
}

#[test]
fn pytorch_usps_cnn_with_batchnorm_matches_reference_logits() {
    let model = check_fixture("usps_cnn_bn.safetensors", USPS_SPEC, "usps_cnn_bn_reference.safetensors");
    // The int64 num_batches_tracked scalars came in as f32.
    let sd: HashMap<String, Tensor> = model.state_dict().into_iter().collect();
    let tracked = &sd["features.1.num_batches_tracked"];
    assert_eq!(tracked.shape(), &[] as &[usize]);
    assert!(tracked.to_scalar().unwrap() > 0.0);
    let summary = inspect(fixture("usps_cnn_bn.safetensors")).unwrap();
    let t = summary.tensors.iter().find(|t| t.name == "features.1.num_batches_tracked").unwrap();
    // This export stores it as `[1]`; graft's scalar `[]` accepts a one-element tensor.
    assert_eq!((t.dtype.as_str(), t.shape.iter().product::<usize>()), ("I64", 1));
}

#[test]
fn fixture_specs_round_trip() {
    for (file, spec) in [("mnist_cnn.safetensors", MNIST_SPEC), ("usps_cnn_bn.safetensors", USPS_SPEC)] {
        let m = load_model_with_spec(fixture(file), spec).unwrap();
        assert_eq!(m.spec(), spec);
        let again = parse_spec(&m.spec(), 1).unwrap();
        assert_eq!(again.spec(), spec);
        let shapes = |m: &dyn Module| -> Vec<(String, Vec<usize>)> {
            m.state_dict().into_iter().map(|(n, t)| (n, t.shape().to_vec())).collect()
        };
        assert_eq!(shapes(&again), shapes(&m));
        // Every tensor of the PyTorch file has a home in the model, and nothing more.
        let mut file_names: Vec<String> = inspect(fixture(file)).unwrap().tensors.into_iter().map(|t| t.name).collect();
        let mut model_names: Vec<String> = shapes(&m).into_iter().map(|(n, _)| n).collect();
        file_names.sort();
        model_names.sort();
        assert_eq!(file_names, model_names);
    }
}

#[test]
fn save_then_load_is_bit_exact_with_metadata() {
    let dir = TempDir::new("roundtrip");
    let original = load_model_with_spec(fixture("usps_cnn_bn.safetensors"), USPS_SPEC).unwrap();
    let path = dir.file("usps.safetensors");
    save_model(&original, &path).unwrap();
    let summary = inspect(&path).unwrap();
    assert_eq!(summary.metadata.get("graft.spec").map(String::as_str), Some(USPS_SPEC));
    assert_eq!(summary.metadata.get("graft.format").map(String::as_str), Some("1"));
    assert_eq!(summary.spec(), Some(USPS_SPEC));
    assert!(summary.tensors.iter().all(|t| t.dtype == "F32"));
    assert!(summary.to_string().contains("features.1.running_var"));

    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.spec(), original.spec());
    assert_eq!(bits(&loaded), bits(&original));
    // Saving the loaded model gives the same bytes: nothing drifts across generations.
    let again = dir.file("again.safetensors");
    save_model(&loaded, &again).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
    assert_eq!(model_to_bytes(&loaded).unwrap(), std::fs::read(&again).unwrap());
    // No temporary file is left behind.
    assert_eq!(dir.entries(), ["again.safetensors", "usps.safetensors"]);

    // Loaded in eval mode, the graft copy still reproduces PyTorch.
    loaded.set_training(false);
    let (x, want) = reference("usps_cnn_bn_reference.safetensors");
    assert!(worst_relative_error(&loaded.forward(&x).unwrap().to_vec().unwrap(), &want) <= 1e-4);
}

#[test]
fn odd_values_survive_bit_for_bit() {
    let dir = TempDir::new("odd");
    let m = parse_spec("linear(3,2),layernorm(2)", 0).unwrap();
    let w = &m.state_dict()[0].1;
    let odd = [f32::NAN, -0.0, f32::INFINITY, f32::MIN_POSITIVE / 4.0, f32::from_bits(0x7fc0_1234), 1e-38];
    w.set_data(&Tensor::from_slice(&odd, &[2, 3]).unwrap()).unwrap();
    let path = dir.file("odd.safetensors");
    save_model(&m, &path).unwrap();
    assert_eq!(bits(&load_model(&path).unwrap()), bits(&m));
}

#[test]
fn loading_writes_into_shared_tensors() {
    let dir = TempDir::new("shared");
    let source = parse_spec("linear(4,3),relu,linear(3,2)", 1).unwrap();
    let path = dir.file("m.safetensors");
    save_model(&source, &path).unwrap();
    let target = parse_spec("linear(4,3),relu,linear(3,2)", 2).unwrap();
    let head = target.slice(2..);
    let weight_before_grad = target.state_dict()[0].1.requires_grad();
    load_state_dict(&target, &path, LoadOptions::default()).unwrap();
    assert_eq!(bits(&head), bits(&source.slice(2..)));
    assert_eq!(target.state_dict()[0].1.requires_grad(), weight_before_grad);
}

#[test]
fn strict_loading_lists_every_problem_and_changes_nothing() {
    let dir = TempDir::new("strict");
    // The file: 0.weight [3,4] (right), 0.bias missing, 2.weight [5,3] (wrong), extra.x (unexpected).
    let path = dir.file("bad.safetensors");
    write_file(
        &path,
        &[
            ("0.weight", Dtype::F32, vec![3, 4], f32_bytes(&[0.5; 12])),
            ("2.weight", Dtype::F32, vec![5, 3], f32_bytes(&[0.0; 15])),
            ("2.bias", Dtype::F32, vec![2], f32_bytes(&[0.0; 2])),
            ("extra.x", Dtype::F32, vec![1], f32_bytes(&[1.0])),
        ],
        None,
    );
    let model = parse_spec("linear(4,3),relu,linear(3,2)", 3).unwrap();
    let before = bits(&model);
    let e = error_text(load_state_dict(&model, &path, LoadOptions::default()));
    for want in [
        "bad.safetensors",
        "3 problems",
        "missing from the file (1)",
        "0.bias [3]",
        "unexpected in the file (1)",
        "extra.x [1] F32",
        "wrong shape (1)",
        "2.weight: file [5, 3], model [2, 3]",
        "nothing was loaded",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert_eq!(bits(&model), before, "a failed load must not modify the model");

    // The wrong architecture for a real file: every mismatch is named.
    let e = error_text(load_model_with_spec(fixture("mnist_cnn.safetensors"), "flatten,linear(784,10)"));
    assert!(e.contains("features.0.weight [32, 1, 3, 3] F32") && e.contains("1.weight [10, 784]"), "{e}");
    assert!(e.contains("check that the architecture"), "{e}");
    let e = error_text(load_model_with_spec(fixture("mnist_cnn.safetensors"), &MNIST_SPEC.replace("128", "64")));
    assert!(e.contains("classifier.0.weight: file [128, 3136], model [64, 3136]"), "{e}");
}

#[test]
fn a_pytorch_file_needs_a_spec() {
    let e = error_text(load_model(fixture("mnist_cnn.safetensors")));
    assert!(e.contains("graft.spec") && e.contains("load_model_with_spec"), "{e}");
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

type Entry = (&'static str, Dtype, Vec<usize>, Vec<u8>);

fn encode(entries: &[Entry], metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> =
        entries.iter().map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, &metadata).unwrap()
}

fn write_file(path: &Path, entries: &[Entry], metadata: Option<HashMap<String, String>>) {
    std::fs::write(path, encode(entries, metadata)).unwrap();
}

#[test]
fn half_bfloat_double_and_integer_tensors_convert_to_f32() {
    // Values exactly representable in every dtype used.
    let w = [1.5f32, -2.0, 0.25, 3.0, -0.125, 8.0];
    let f16: Vec<u8> =
        [0x3e00u16, 0xc000, 0x3400, 0x4200, 0xb000, 0x4800].iter().flat_map(|h| h.to_le_bytes()).collect();
    let bf16: Vec<u8> = w.iter().flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes()).collect();
    let f64b: Vec<u8> = w.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    let model = parse_spec("linear(3,2),batchnorm1d(2),linear(2,3,bias=false)", 0).unwrap();
    let bytes = encode(
        &[
            ("0.weight", Dtype::F16, vec![2, 3], f16),
            ("0.bias", Dtype::BF16, vec![2], bf16[..4].to_vec()),
            ("1.weight", Dtype::F64, vec![2], f64b[..16].to_vec()),
            ("1.bias", Dtype::I32, vec![2], [-3i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ("1.running_mean", Dtype::F32, vec![2], f32_bytes(&[0.5, -0.5])),
            ("1.running_var", Dtype::F32, vec![2], f32_bytes(&[2.0, 4.0])),
            ("1.num_batches_tracked", Dtype::I64, vec![], 1234i64.to_le_bytes().to_vec()),
            ("2.weight", Dtype::BF16, vec![3, 2], bf16.clone()),
        ],
        None,
    );
    load_state_dict_from_bytes(&model, &bytes, LoadOptions::default()).unwrap();
    let sd: HashMap<String, Vec<f32>> = model.state_dict().into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect();
    assert_eq!(sd["0.weight"], w);
    assert_eq!(sd["0.bias"], w[..2]);
    assert_eq!(sd["1.weight"], w[..2]);
    assert_eq!(sd["1.bias"], [-3.0, 7.0]);
    assert_eq!(sd["1.num_batches_tracked"], [1234.0]);
    assert_eq!(sd["2.weight"], w);

    // FP8 is refused by name, in the same one-error list.
    let bad = encode(
        &[("0.weight", Dtype::F8_E4M3, vec![2, 3], vec![0; 6]), ("0.bias", Dtype::F32, vec![2], f32_bytes(&[0.0; 2]))],
        None,
    );
    let e =
        error_text(load_state_dict_from_bytes(&parse_spec("linear(3,2)", 0).unwrap(), &bad, LoadOptions::default()));
    assert!(e.contains("unreadable (1)") && e.contains("0.weight: dtype F8_E4M3"), "{e}");
}

#[test]
fn keras_dense_kernels_load_through_the_explicit_option() {
    // A Keras-style file for linear(3,2),relu,linear(2,2): kernels [in, out].
    let k0 = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // [3, 2]
    let k2 = [1.0f32, 2.0, 3.0, 4.0]; // [2, 2], square
    let bytes = encode(
        &[
            ("0.weight", Dtype::F32, vec![3, 2], f32_bytes(&k0)),
            ("0.bias", Dtype::F32, vec![2], f32_bytes(&[0.1, 0.2])),
            ("2.weight", Dtype::F32, vec![2, 2], f32_bytes(&k2)),
            ("2.bias", Dtype::F32, vec![2], f32_bytes(&[0.0, 0.0])),
        ],
        None,
    );
    let model = parse_spec("linear(3,2),relu,linear(2,2)", 0).unwrap();
    let e = error_text(load_state_dict_from_bytes(&model, &bytes, LoadOptions::default()));
    assert!(e.contains("0.weight: file [3, 2], model [2, 3]") && e.contains("LoadOptions::keras()"), "{e}");

    load_state_dict_from_bytes(&model, &bytes, LoadOptions::keras()).unwrap();
    let sd = model.state_dict();
    assert_eq!(sd[0].1.to_vec().unwrap(), [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    assert_eq!(sd[2].1.to_vec().unwrap(), [1.0, 3.0, 2.0, 4.0]);
    // Keras computes x · kernel + b; graft's x · Wᵀ + b now gives the same.
    let x = Tensor::from_slice(&[1.0, 0.0, -1.0], &[1, 3]).unwrap();
    let y = model.slice(..1).forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(y, [1.0 - 5.0 + 0.1, 2.0 - 6.0 + 0.2]);
}

#[test]
fn damaged_files_give_errors_naming_the_file() {
    let dir = TempDir::new("damaged");
    let good = std::fs::read(fixture("usps_cnn_bn.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "only 0 bytes"),
        ("tiny", good[..5].to_vec(), "only 5 bytes"),
        ("cut-in-header", good[..100].to_vec(), "header claims"),
        ("cut-in-data", good[..good.len() - 10].to_vec(), "not exactly as long"),
        ("trailing", [good.clone(), vec![0; 3]].concat(), "not exactly as long"),
        ("huge-header", [&u64::MAX.to_le_bytes()[..], &good[8..]].concat(), "more than"),
        ("not-json", [&4u64.to_le_bytes()[..], b"abcd"].concat(), "not a safetensors JSON"),
        ("text", b"this is not a model file at all".to_vec(), "header claims"),
    ];
    let mut bad_json = good.clone();
    bad_json[8 + header_len / 2] = b'}';
    cases.push(("json-garbled", bad_json, "the file is damaged"));
    let mut bad_offsets = good.clone();
    let header = String::from_utf8(good[8..8 + header_len].to_vec()).unwrap();
    let shifted = header.replacen("\"data_offsets\":[0,", "\"data_offsets\":[4,", 1);
    assert_ne!(shifted, header, "the header should contain an offset starting at 0");
    bad_offsets[8..8 + header_len].copy_from_slice(shifted.as_bytes());
    cases.push(("offsets", bad_offsets, "the file is damaged"));

    let model = parse_spec(USPS_SPEC, 0).unwrap();
    let before = bits(&model);
    for (name, bytes, want) in cases {
        let path = dir.file(&format!("{name}.safetensors"));
        std::fs::write(&path, &bytes).unwrap();
        for e in [
            error_text(load_state_dict(&model, &path, LoadOptions::default())),
            error_text(load_model(&path)),
            error_text(inspect(&path)),
        ] {
            assert!(e.contains(&format!("{name}.safetensors")) && e.contains(want), "{name}: {e}");
        }
    }
    assert_eq!(bits(&model), before);
    let e = error_text(load_model(dir.file("absent.safetensors")));
    assert!(e.contains("absent.safetensors") && e.contains("cannot read"), "{e}");

    // A graft file whose stored spec is damaged, or from a future format.
    let tensors: [Entry; 0] = [];
    for (meta, want) in [
        (vec![("graft.spec", "linear(1,"), ("graft.format", "1")], "does not parse"),
        (vec![("graft.spec", "relu"), ("graft.format", "2")], "reads format \"1\""),
        (vec![("graft.spec", "relu")], "`graft.format` is not"),
    ] {
        let path = dir.file("meta.safetensors");
        let meta: HashMap<String, String> = meta.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        write_file(&path, &tensors, Some(meta));
        let e = error_text(load_model(&path));
        assert!(e.contains("meta.safetensors") && e.contains(want), "{e}");
    }
}

/// A module whose state dict repeats a name: saving it must fail before touching the file.
struct Duplicated;

impl Module for Duplicated {
    fn forward(&self, x: &Tensor) -> graft_engine::Result<Tensor> {
        Ok(x.clone())
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("w".into(), Tensor::ones(&[2])), ("w".into(), Tensor::zeros(&[2]))]
    }
    fn spec(&self) -> String {
        "duplicated".into()
    }
    fn clone_module(&self) -> graft_engine::Result<Box<dyn Module>> {
        Ok(Box::new(Duplicated))
    }
}

#[test]
fn saving_is_atomic() {
    let dir = TempDir::new("atomic");
    let path = dir.file("model.safetensors");
    let first = parse_spec("linear(2,2)", 1).unwrap();
    save_model(&first, &path).unwrap();
    let saved = std::fs::read(&path).unwrap();

    let e = error_text(save_model(&Duplicated, &path));
    assert!(e.contains("`w`"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), saved, "a failed save must leave the old file");
    assert_eq!(dir.entries(), ["model.safetensors"]);

    // Overwriting replaces the whole file.
    let second = parse_spec("linear(2,2),relu,linear(2,1)", 2).unwrap();
    save_model(&second, &path).unwrap();
    assert_eq!(bits(&load_model(&path).unwrap()), bits(&second));
    assert_eq!(dir.entries(), ["model.safetensors"]);

    let e = error_text(save_model(&first, dir.file("no/such/dir/m.safetensors")));
    assert!(e.contains("no/such/dir/m.safetensors"), "{e}");
    assert_eq!(dir.entries(), ["model.safetensors"]);
}

#[test]
fn mutated_files_never_panic() {
    // A cheap deterministic fuzz over a small graft file: flipped, inserted and removed bytes,
    // and truncations. Every load returns Ok or Err; none panics.
    let model = parse_spec("conv2d(1,2,3),batchnorm2d(2),flatten,linear(8,3)", 4).unwrap();
    let good = model_to_bytes(&model).unwrap();
    let header_end = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = graft_engine::Rng::new(11);
    let mut loaded = 0;
    for _ in 0..3000 {
        let mut b = good.clone();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(header_end.min(b.len()));
            match rng.below(4) {
                0 => b[i] = rng.below(256) as u8,
                1 => b[i] = b"{}[],:\"0123456789FIU-e"[rng.below(22)],
                2 => b.truncate(rng.below(b.len())),
                _ => {
                    b.remove(i);
                }
            }
            if b.is_empty() {
                break;
            }
        }
        let target = parse_spec("conv2d(1,2,3),batchnorm2d(2),flatten,linear(8,3)", 0).unwrap();
        loaded += usize::from(load_state_dict_from_bytes(&target, &b, LoadOptions::default()).is_ok());
    }
    assert!(loaded < 3000, "some mutations must be refused");
}

#[test]
fn an_architecture_bigger_than_the_file_is_refused_before_it_is_built() {
    // A valid graft header whose spec claims a 2^30-value layer, with no tensors at all.
    let header = r#"{"__metadata__":{"graft.format":"1","graft.spec":"linear(32768,32768)"}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let err = graft_nn::load_model_from_bytes(&bytes, "tiny.safetensors").unwrap_err().to_string();
    assert!(err.contains("needs 1073774592 values but the file holds only 0"), "{err}");
}
