//! Keras-exported `.safetensors` files: real Keras models (see `tests/data/keras/README.md`)
//! against Keras' own outputs, layout detection, name mapping, and every refusal.

use graft_engine::Tensor;
use graft_nn::model_file::{read_tensors, LoadOptions, WeightLayout};
use graft_nn::{
    inspect, load_model, load_model_with_spec, load_model_with_spec_options, load_state_dict,
    load_state_dict_from_bytes, parse_spec, save_model, Fix, Module, NnError, Sequential,
};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keras");
const MLP_SPEC: &str = "linear(4,6),relu,linear(6,6),relu,linear(6,6),relu,linear(6,3)";
const CNN_SPEC: &str =
    "conv2d(2,3,3,padding=1),relu,batchnorm2d(3,eps=0.001,momentum=0.01),conv2d(3,4,3x2),globalavgpool,dropout(0.25),linear(4,2)";

fn fixture(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

fn tensors(name: &str) -> HashMap<String, Tensor> {
    read_tensors(fixture(name)).unwrap().into_iter().collect()
}

fn reference(key: &str) -> Tensor {
    tensors("keras_outputs.safetensors").remove(key).unwrap()
}

fn error<T>(r: Result<T, NnError>) -> NnError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn error_text<T>(r: Result<T, NnError>) -> String {
    error(r).to_string()
}

fn assert_contains(text: &str, wants: &[&str]) {
    for want in wants {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// The fix of a [`NnError::Fixable`], with its full text.
fn fix_of(e: &NnError) -> Fix {
    match e {
        NnError::Fixable { fix, .. } => fix.clone(),
        other => panic!("expected a fixable error, got: {other}"),
    }
}

fn max_abs_diff(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.shape(), want.shape());
    let (g, w) = (got.to_vec().unwrap(), want.to_vec().unwrap());
    g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn assert_matches_keras(model: &Sequential, x: &Tensor, y_key: &str) {
    model.set_training(false);
    let got = model.forward(x).unwrap();
    let d = max_abs_diff(&got, &reference(y_key));
    assert!(d <= 1e-5, "{y_key}: graft differs from Keras by {d}");
}

fn bits(m: &dyn Module) -> Vec<Vec<u32>> {
    m.state_dict().into_iter().map(|(_, t)| t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()).collect()
}

/// A `.safetensors` file of f32 tensors.
fn encode(entries: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> =
        entries.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, &None).unwrap()
}

/// A fixture's tensors renamed (and optionally changed) by `f`, as file bytes.
fn variant(name: &str, f: impl Fn(&str, &Tensor) -> Option<(String, Vec<usize>, Vec<f32>)>) -> Vec<u8> {
    let mut entries: Vec<_> = read_tensors(fixture(name)).unwrap().iter().filter_map(|(n, t)| f(n, t)).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    encode(&entries)
}

fn same(n: &str, t: &Tensor) -> (String, Vec<usize>, Vec<f32>) {
    (n.to_string(), t.shape().to_vec(), t.to_vec().unwrap())
}

/// `[r, c]` transposed.
fn transposed(t: &Tensor) -> (Vec<usize>, Vec<f32>) {
    let (r, c) = (t.shape()[0], t.shape()[1]);
    let v = t.to_vec().unwrap();
    let mut out = vec![0.0; v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    (vec![c, r], out)
}

fn model_from_bytes(spec: &str, bytes: &[u8], options: LoadOptions) -> Result<Sequential, NnError> {
    let model = parse_spec(spec, 0)?;
    load_state_dict_from_bytes(&model, bytes, options)?;
    Ok(model)
}

#[test]
fn a_keras_mlp_with_square_kernels_gives_keras_outputs() {
    let x = reference("mlp_x");
    // Detected from the names (`sequential/dense_1/kernel`, …) and forced: the same model.
    let detected = load_model_with_spec(fixture("mlp_square.safetensors"), MLP_SPEC).unwrap();
    assert_matches_keras(&detected, &x, "mlp_y");
    let forced =
        load_model_with_spec_options(fixture("mlp_square.safetensors"), MLP_SPEC, LoadOptions::keras()).unwrap();
    assert_eq!(bits(&forced), bits(&detected));
    assert!(inspect(fixture("mlp_square.safetensors")).unwrap().is_keras_layout());
    assert_eq!(LoadOptions::default(), LoadOptions { layout: WeightLayout::Detect });

    // The square kernels really are transposed: dense_1's kernel [6, 6] is 2.weight's transpose.
    let file = tensors("mlp_square.safetensors");
    let kernel = &file["sequential/dense_1/kernel"];
    let weight = detected.state_dict().into_iter().find(|(n, _)| n == "2.weight").unwrap().1;
    assert_eq!(transposed(kernel).1, weight.to_vec().unwrap());
}

#[test]
fn a_keras_file_is_refused_in_torch_layout() {
    let e = error(load_model_with_spec_options(fixture("mlp_square.safetensors"), MLP_SPEC, LoadOptions::torch()));
    assert_eq!(fix_of(&e), Fix::KerasLayout);
    assert_contains(
        &e.to_string(),
        &[
            "mlp_square.safetensors: the file does not match the model (16 problems; nothing was loaded)",
            "0.weight [6, 4]",
            "sequential/dense/kernel [4, 6] F32",
            "the tensor names are Keras names (`sequential/dense/bias`, `sequential/dense/kernel`, \
             `sequential/dense_1/bias` and 5 more), which graft maps onto the model only in Keras layout",
            "LoadOptions::keras(), which transposes every Dense kernel",
        ],
    );
}

#[test]
fn graft_names_with_keras_kernels_are_refused_then_load_in_keras_layout() {
    let path = fixture("mlp_graft_names_keras_kernels.safetensors");
    assert!(!inspect(&path).unwrap().is_keras_layout());
    let model = parse_spec(MLP_SPEC, 0).unwrap();
    let before = bits(&model);
    for options in [LoadOptions::default(), LoadOptions::torch()] {
        let e = error(load_state_dict(&model, &path, options));
        assert_eq!(fix_of(&e), Fix::KerasLayout);
        let text = e.to_string();
        assert_contains(
            &text,
            &[
                "2 problems; nothing was loaded",
                "0.weight: file [4, 6], model [6, 4] (the transpose: a Keras [in, out] Dense kernel)",
                "6.weight: file [6, 3], model [3, 6] (the transpose",
                "the file looks like Keras layout: 2 weights have the transpose of the model's shape",
                "EVERY Dense kernel [in, out]",
                "the square ones too",
                "transposing only the ones listed would load a wrong model",
                "LoadOptions::keras()",
            ],
        );
        assert!(!text.contains("2.weight"), "square kernels fit by shape and are not listed:\n{text}");
    }
    assert_eq!(bits(&model), before, "a refused load changes nothing");

    // In Keras layout every linear weight is transposed, the square ones too.
    load_state_dict(&model, &path, LoadOptions::keras()).unwrap();
    let model = parse_spec(MLP_SPEC, 0).unwrap();
    load_state_dict(&model, &path, LoadOptions::keras()).unwrap();
    assert_matches_keras(&model, &reference("mlp_x"), "mlp_y");
}

#[test]
fn a_half_transposed_file_loads_wrong_in_torch_layout_and_is_refused_in_keras_layout() {
    // What a user gets by transposing only the kernels the shape check flags: every shape now
    // fits graft's, but the square kernels are still [in, out].
    let half = variant("mlp_graft_names_keras_kernels.safetensors", |n, t| {
        if n.ends_with("weight") && t.shape()[0] != t.shape()[1] {
            let (s, v) = transposed(t);
            Some((n.to_string(), s, v))
        } else {
            Some(same(n, t))
        }
    });
    let wrong = model_from_bytes(MLP_SPEC, &half, LoadOptions::torch()).unwrap();
    wrong.set_training(false);
    let d = max_abs_diff(&wrong.forward(&reference("mlp_x")).unwrap(), &reference("mlp_y"));
    assert!(d > 1e-2, "untransposed square kernels must change the outputs (differ by {d})");

    // In Keras layout that file cannot be told from a PyTorch one (every non-square kernel is
    // [out, in], the square ones show nothing): refused as not in Keras layout.
    let e = error(model_from_bytes(MLP_SPEC, &half, LoadOptions::keras()));
    assert_eq!(fix_of(&e), Fix::TorchLayout);
    assert_contains(&e.to_string(), &["the file is not in Keras layout", "(e.g. `0.weight` [6, 4])"]);

    // One kernel transposed and one not: the file mixes layouts, and the message says so.
    let mixed = variant("mlp_graft_names_keras_kernels.safetensors", |n, t| {
        if n == "0.weight" {
            let (s, v) = transposed(t);
            Some((n.to_string(), s, v))
        } else {
            Some(same(n, t))
        }
    });
    let e = error_text(model_from_bytes(MLP_SPEC, &mixed, LoadOptions::keras()));
    assert_contains(
        &e,
        &[
            "1 problem; nothing was loaded",
            "0.weight: file [6, 4] is already [out, in], but in Keras layout every Dense kernel is stored [in, out], \
             here [4, 6]",
            "1 kernel is stored in PyTorch's layout in a Keras-layout file",
            "the file mixes layouts",
        ],
    );

    // The same with Keras names: one kernel already [out, in] is refused, not accepted.
    let mixed = variant("mlp_square.safetensors", |n, t| {
        if n == "sequential/dense/kernel" {
            let (s, v) = transposed(t);
            Some((n.to_string(), s, v))
        } else {
            Some(same(n, t))
        }
    });
    let model = parse_spec(MLP_SPEC, 0).unwrap();
    let before = bits(&model);
    let e = error_text(load_state_dict_from_bytes(&model, &mixed, LoadOptions::default()));
    assert_contains(
        &e,
        &[
            "1 problem; nothing was loaded",
            "sequential/dense/kernel (→ 0.weight): file [6, 4] is already [out, in], but in Keras layout every Dense \
             kernel is stored [in, out], here [4, 6]",
            "1 kernel is stored in PyTorch's layout",
            "Keras layers matched to the model's in creation order: dense → 0 = linear(4,6), dense_1 → 2",
        ],
    );
    assert_eq!(bits(&model), before);
}

/// The CNN's NHWC inputs as graft's NCHW.
fn nchw(x: &Tensor) -> Tensor {
    let (n, h, w, c) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let v = x.to_vec().unwrap();
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    out[((b * c + ch) * h + y) * w + xx] = v[((b * h + y) * w + xx) * c + ch];
                }
            }
        }
    }
    Tensor::from_vec(out, &[n, c, h, w]).unwrap()
}

#[test]
fn a_keras_cnn_with_batchnorm_gives_keras_outputs() {
    // Names `sequential_1/conv2d/kernel` [3, 3, 2, 3], `sequential_1/conv2d_1/kernel` [3, 2, 3, 4]
    // (kh ≠ kw), `batch_normalization/{gamma,beta,moving_mean,moving_variance}`, `dense_4` (the
    // session's fifth Dense), and a dropout seed state from `model.variables`.
    let path = fixture("cnn_bn.safetensors");
    assert!(inspect(&path).unwrap().is_keras_layout());
    let model = load_model_with_spec(&path, CNN_SPEC).unwrap();
    assert_matches_keras(&model, &nchw(&reference("cnn_x_nhwc")), "cnn_y");
    let sd: HashMap<String, Vec<f32>> = model.state_dict().into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect();
    assert_eq!(sd["2.num_batches_tracked"], [0.0], "Keras has no batch count: the model's stays");
    assert_eq!(
        sd["2.running_var"],
        tensors("cnn_bn.safetensors")["sequential_1/batch_normalization/moving_variance"].to_vec().unwrap()
    );

    // A Conv2D kernel already [out, in, kh, kw] is refused.
    let oihw = variant("cnn_bn.safetensors", |n, t| {
        if n == "sequential_1/conv2d_1/kernel" {
            Some((n.to_string(), vec![4, 3, 3, 2], t.to_vec().unwrap()))
        } else {
            Some(same(n, t))
        }
    });
    let e = error_text(model_from_bytes(CNN_SPEC, &oihw, LoadOptions::default()));
    assert_contains(
        &e,
        &["sequential_1/conv2d_1/kernel (→ 3.weight): file [4, 3, 3, 2] is already [out, in, kh, kw], but in Keras \
             layout every Conv2D kernel is stored [kh, kw, in, out], here [3, 2, 3, 4]"],
    );
    // Without the Keras epsilon the outputs differ: the spec must say it.
    let default_eps = load_model_with_spec(&path, &CNN_SPEC.replace(",eps=0.001", "")).unwrap();
    default_eps.set_training(false);
    let d = max_abs_diff(&default_eps.forward(&nchw(&reference("cnn_x_nhwc"))).unwrap(), &reference("cnn_y"));
    assert!(d > 1e-5, "{d}");
}

#[test]
fn custom_keras_names_match_the_spec_names() {
    // `hidden1/kernel:0`, `output/bias:0`: Keras 2 suffixes, layers named by the user.
    let path = fixture("custom_names.safetensors");
    let model = load_model_with_spec(&path, "hidden1=linear(4,5),relu,output=linear(5,3)").unwrap();
    assert_matches_keras(&model, &reference("custom_x"), "custom_y");

    // Unnamed layers: the names match neither way, and the message says how to fix it.
    let model = parse_spec("linear(4,5),relu,linear(5,3)", 0).unwrap();
    let before = bits(&model);
    let e = error_text(load_state_dict(&model, &path, LoadOptions::default()));
    assert_contains(
        &e,
        &[
            "custom_names.safetensors: 4 of the file's 4 Keras tensor names match neither the model's layer names nor \
             Keras' automatic layer names in creation order",
            "hidden1/bias:0 [5]",
            "hidden1/kernel:0 [4, 5]",
            "output/kernel:0 [5, 3]",
            "nothing was loaded",
            "the model's layers: 0 = linear(4,5), 2 = linear(5,3)",
            "name the layers in the spec like the Keras layers, e.g. `hidden1=linear(4,5)`",
        ],
    );
    assert_eq!(bits(&model), before);

    // Named, but only one layer like Keras: the other is listed.
    let e = error_text(load_model_with_spec(&path, "hidden1=linear(4,5),relu,linear(5,3)"));
    assert_contains(&e, &["2 of the file's 4", "output/bias:0 [3]", "output/kernel:0 [5, 3]", "`output=linear(5,3)`"]);
    assert!(!e.contains("hidden1/kernel:0 ["), "{e}");
}

#[test]
fn keras_name_variants_load_alike() {
    let strip = |n: &str| n.strip_prefix("sequential/").unwrap().to_string();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        (
            "`:0` suffix, no prefix",
            variant("mlp_square.safetensors", |n, t| {
                Some((format!("{}:0", strip(n)), t.shape().to_vec(), t.to_vec().unwrap()))
            }),
        ),
        (
            "dots",
            variant("mlp_square.safetensors", |n, t| {
                Some((strip(n).replace('/', "."), t.shape().to_vec(), t.to_vec().unwrap()))
            }),
        ),
        (
            "a deeper prefix",
            variant("mlp_square.safetensors", |n, t| {
                Some((format!("functional/{n}"), t.shape().to_vec(), t.to_vec().unwrap()))
            }),
        ),
        (
            "prefix and dots",
            variant("mlp_square.safetensors", |n, t| {
                Some((n.replace('/', "."), t.shape().to_vec(), t.to_vec().unwrap()))
            }),
        ),
    ];
    for (what, bytes) in variants {
        let model =
            model_from_bytes(MLP_SPEC, &bytes, LoadOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_matches_keras(&model, &reference("mlp_x"), "mlp_y");
    }
    // Layer names with the model prefix kept match a spec that has the group.
    let bytes = variant("mlp_square.safetensors", |n, t| Some(same(n, t)));
    let spec =
        "sequential=[dense=linear(4,6),relu,dense_1=linear(6,6),relu,dense_2=linear(6,6),relu,dense_3=linear(6,3)]";
    let model = model_from_bytes(spec, &bytes, LoadOptions::default()).unwrap();
    assert_matches_keras(&model, &reference("mlp_x"), "mlp_y");
}

#[test]
fn automatic_names_follow_numeric_order() {
    // dense, dense_1, …, dense_10 onto eleven linear(2,2) layers: lexical order would put
    // dense_10 second. Each kernel holds its layer number, so the order shows in the values.
    let mut entries = Vec::new();
    for i in 0..11 {
        let name = if i == 0 { "dense".to_string() } else { format!("dense_{i}") };
        let k = i as f32;
        entries.push((format!("{name}/kernel"), vec![2, 2], vec![k, k + 0.5, k + 0.25, k + 0.75]));
        entries.push((format!("{name}/bias"), vec![2], vec![-k, k]));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let spec = ["linear(2,2)"; 11].join(",");
    let model = model_from_bytes(&spec, &encode(&entries), LoadOptions::default()).unwrap();
    let sd: HashMap<String, Vec<f32>> = model.state_dict().into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect();
    for i in 0..11 {
        let k = i as f32;
        assert_eq!(sd[&format!("{i}.weight")], [k, k + 0.25, k + 0.5, k + 0.75], "layer {i} (transposed)");
        assert_eq!(sd[&format!("{i}.bias")], [-k, k], "layer {i}");
    }

    // One Dense too many: listed as unexpected, the counts noted, nothing loaded.
    let short = ["linear(2,2)"; 10].join(",");
    let e = error_text(model_from_bytes(&short, &encode(&entries), LoadOptions::default()));
    assert_contains(
        &e,
        &[
            "2 problems; nothing was loaded",
            "unexpected in the file (2)",
            "dense_10/bias [2] F32",
            "dense_10/kernel [2, 2] F32",
            "the file has 11 Keras Dense layers (dense, dense_1, …), the model 10 linear layers",
        ],
    );
}

#[test]
fn keras_files_are_strict() {
    // dense_3/bias missing and dense_1/kernel the wrong size: both listed in one error.
    let bytes = variant("mlp_square.safetensors", |n, t| match n {
        "sequential/dense_3/bias" => None,
        "sequential/dense_1/kernel" => Some((n.to_string(), vec![6, 5], t.to_vec().unwrap()[..30].to_vec())),
        _ => Some(same(n, t)),
    });
    let model = parse_spec(MLP_SPEC, 0).unwrap();
    let before = bits(&model);
    let e = error_text(load_state_dict_from_bytes(&model, &bytes, LoadOptions::keras()));
    assert_contains(
        &e,
        &[
            "<safetensors bytes>: the file does not match the model (2 problems; nothing was loaded)",
            "missing from the file (1)",
            "6.bias [3] (Keras dense_3/bias)",
            "wrong shape (1)",
            "sequential/dense_1/kernel (→ 2.weight): file [6, 5], expected the Keras Dense kernel [6, 6] ([in, out] of \
             the model's [6, 6])",
        ],
    );
    assert_eq!(bits(&model), before);

    // A model without the file's batch norm: its tensors are unexpected, by their Keras names.
    let e = error_text(load_model_with_spec(
        fixture("cnn_bn.safetensors"),
        &CNN_SPEC.replace("batchnorm2d(3,eps=0.001,momentum=0.01),", ""),
    ));
    assert_contains(
        &e,
        &[
            "unexpected in the file (4)",
            "sequential_1/batch_normalization/gamma [3] F32",
            "the file has 1 Keras BatchNormalization layer (batch_normalization, batch_normalization_1, …), the model 0 batchnorm layers",
        ],
    );
}

#[test]
fn mixed_names_are_ambiguous() {
    let entries = vec![
        ("0.weight".to_string(), vec![6, 4], vec![0.0; 24]),
        ("dense/bias".to_string(), vec![6], vec![0.0; 6]),
        ("dense/kernel".to_string(), vec![4, 6], vec![0.0; 24]),
    ];
    let bytes = encode(&entries);
    let model = parse_spec("linear(4,6)", 0).unwrap();
    let before = bits(&model);
    for options in [LoadOptions::default(), LoadOptions::keras()] {
        let e = error_text(load_state_dict_from_bytes(&model, &bytes, options));
        assert_contains(
            &e,
            &[
                "the tensor names mix Keras names (`dense/bias`, `dense/kernel`) with PyTorch/graft names (`0.weight`)",
                "cannot be told; nothing was loaded",
            ],
        );
    }
    // Forced PyTorch layout reads by name (PyTorch modules may name parameters `gamma`); the
    // Keras tensors are then unexpected, and the mix is pointed out.
    let e = error_text(load_state_dict_from_bytes(&model, &bytes, LoadOptions::torch()));
    assert_contains(
        &e,
        &[
            "missing from the file (1)",
            "0.bias [6]",
            "unexpected in the file (2)",
            "the tensor names mix Keras names (`dense/bias`, `dense/kernel`) with PyTorch/graft names (`0.weight`)",
        ],
    );
    assert_eq!(bits(&model), before);

    // Keras-looking names in forced PyTorch layout are read by name; when that fails, the
    // refusal says they look like Keras names.
    let gamma =
        encode(&[("gamma".to_string(), vec![6, 4], vec![0.5; 24]), ("bias".to_string(), vec![6], vec![0.0; 6])]);
    let e = error(load_state_dict_from_bytes(&model, &gamma, LoadOptions::torch()));
    assert_eq!(fix_of(&e), Fix::KerasLayout, "the Keras look is named when the load fails");
    assert!(e.to_string().contains("the tensor names are Keras names (`gamma`)"), "{e}");
}

#[test]
fn torch_files_are_refused_in_keras_layout() {
    let dir = std::env::temp_dir().join(format!("graft-keras-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("graft_mlp.safetensors");
    let saved = parse_spec("linear(4,6),relu,linear(6,3)", 5).unwrap();
    save_model(&saved, &path).unwrap();
    let model = parse_spec("linear(4,6),relu,linear(6,3)", 0).unwrap();
    let e = error(load_state_dict(&model, &path, LoadOptions::keras()));
    assert_eq!(fix_of(&e), Fix::TorchLayout);
    assert_contains(
        &e.to_string(),
        &[
            "graft_mlp.safetensors: the file is not in Keras layout: its names are PyTorch/graft names and its kernels \
             have the model's own shapes, [out, in] (e.g. `0.weight` [6, 4])",
            "nothing was loaded",
            "LoadOptions::torch()",
        ],
    );
    load_state_dict(&model, &path, LoadOptions::default()).unwrap();
    assert_eq!(bits(&model), bits(&saved));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_keras_file_needs_a_spec() {
    let e = error(load_model(fixture("mlp_square.safetensors")));
    assert_eq!(fix_of(&e), Fix::GiveSpec);
    assert_contains(
        &e.to_string(),
        &[
            "mlp_square.safetensors: the file has no `graft.spec` metadata, so it does not say its architecture (a \
             PyTorch or Keras state_dict?)",
            "load_model_with_spec(path, \"<spec>\")",
        ],
    );
}
