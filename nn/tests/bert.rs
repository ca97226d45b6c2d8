//! A small BERT encoder made here: Hugging Face names round-trip through a model directory,
//! strict loading lists every problem, bad inputs are refused, the whole encoder passes a
//! finite-difference gradient check, and (feature `gpu`) runs on the GPU to the CPU's values.

use graft_engine::gradcheck::{check_gradients, GradCheck};
use graft_engine::{Rng, Tensor};
use graft_nn::bert::{BertConfig, BertModel};
use graft_nn::{save_model, Module};
use std::path::PathBuf;

const TINY: &str = r#"{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 40,
    "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12,
    "max_position_embeddings": 16, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
    "pad_token_id": 0}"#;

fn tiny(seed: u64) -> BertModel {
    BertModel::new(BertConfig::from_json(TINY, "tiny").unwrap(), true, &mut Rng::new(seed))
}

/// A fresh directory under the target dir holding `config` and the model's weights.
fn model_dir(name: &str, config: &str, model: &BertModel) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config).unwrap();
    save_model(model, dir.join("model.safetensors")).unwrap();
    dir
}

fn batch() -> (Tensor, Tensor) {
    let ids = Tensor::from_vec(vec![1.0, 5.0, 9.0, 2.0, 0.0, 1.0, 7.0, 2.0, 0.0, 0.0], &[2, 5]).unwrap();
    let mask = Tensor::from_vec(vec![1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0], &[2, 5]).unwrap();
    (ids, mask)
}

#[test]
fn names_are_hugging_faces_and_a_saved_directory_loads_to_the_same_outputs() {
    let model = tiny(1);
    let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    for want in [
        "embeddings.word_embeddings.weight",
        "embeddings.LayerNorm.bias",
        "encoder.layer.1.attention.self.query.weight",
        "encoder.layer.0.attention.output.LayerNorm.weight",
        "encoder.layer.1.intermediate.dense.bias",
        "encoder.layer.1.output.dense.weight",
        "pooler.dense.weight",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    assert_eq!(names.len(), 5 + 2 * 16 + 2);
    let dir = model_dir("bert_roundtrip", TINY, &model);
    let loaded = BertModel::load(&dir).unwrap();
    let (ids, mask) = batch();
    let (a, b) = (model.sentence_embeddings(&ids, &mask).unwrap(), loaded.sentence_embeddings(&ids, &mask).unwrap());
    assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap());
    assert_eq!(a.shape(), &[2, 8]);
    for row in a.to_vec().unwrap().chunks(8) {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit norm, got {norm}");
    }
}

#[test]
fn padding_does_not_change_a_sentences_embedding() {
    let model = tiny(2);
    let (ids, mask) = batch();
    let both = model.sentence_embeddings(&ids, &mask).unwrap().to_vec().unwrap();
    let alone = Tensor::from_vec(vec![1.0, 7.0, 2.0], &[1, 3]).unwrap();
    let alone = model.sentence_embeddings(&alone, &Tensor::ones(&[1, 3])).unwrap().to_vec().unwrap();
    for (p, a) in both[8..].iter().zip(&alone) {
        assert!((p - a).abs() < 1e-5, "padded {p} vs alone {a}");
    }
}

#[test]
fn a_mismatched_file_is_refused_with_every_problem_listed() {
    let dir = model_dir("bert_wrong_hidden", TINY, &tiny(3));
    let wider = TINY.replace("\"hidden_size\": 8", "\"hidden_size\": 12");
    std::fs::write(dir.join("config.json"), wider).unwrap();
    let e = BertModel::load(&dir).err().expect("a 12-wide config over 8-wide weights").to_string();
    assert!(e.contains("wrong shape") && e.contains("encoder.layer.1.attention.self.query.weight"), "{e}");
    assert!(e.contains("nothing was loaded"), "{e}");
    let deeper = TINY.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    std::fs::write(dir.join("config.json"), deeper).unwrap();
    let e = BertModel::load(&dir).err().expect("a missing layer").to_string();
    assert!(e.contains("missing from the file") && e.contains("encoder.layer.2.output.dense.weight"), "{e}");
    std::fs::write(dir.join("config.json"), TINY.replace("\"vocab_size\": 40,", "")).unwrap();
    let e = BertModel::load(&dir).err().expect("no vocab_size").to_string();
    assert!(e.contains("`vocab_size` is missing") && e.contains("config.json"), "{e}");
    let e = BertModel::load(dir.join("nowhere")).err().expect("no directory").to_string();
    assert!(e.contains("not a directory") && e.contains("fetch-minilm.sh"), "{e}");
}

#[test]
fn bad_token_ids_and_masks_are_refused_naming_the_problem() {
    let model = tiny(4);
    let e = model.encode(&Tensor::from_vec(vec![1.0, 40.0], &[1, 2]).unwrap(), None).unwrap_err().to_string();
    assert!(e.contains("id 40 is not an integer in 0..40"), "{e}");
    let long = Tensor::ones(&[1, 17]);
    let e = model.encode(&long, None).unwrap_err().to_string();
    assert!(e.contains("17 tokens") && e.contains("truncate"), "{e}");
    let e = model.encode(&Tensor::ones(&[4]), None).unwrap_err().to_string();
    assert!(e.contains("[batch, seq]"), "{e}");
    let e = model.encode(&Tensor::ones(&[1, 3]), Some(&Tensor::ones(&[1, 2]))).unwrap_err().to_string();
    assert!(e.contains("attention mask"), "{e}");
    let e = model.run_layers(&Tensor::zeros(&[1, 2, 8]), None, 1..3).unwrap_err().to_string();
    assert!(e.contains("1..3") && e.contains("0..2"), "{e}");
}

#[test]
fn the_encoder_passes_a_finite_difference_gradient_check() {
    let model = tiny(5);
    let (_, mask) = batch();
    let h = Tensor::randn(&[2, 5, 8], 0.0, 1.0, &mut Rng::new(6));
    check_gradients(
        |t| {
            let out = model.run_layers(&t[0], Some(&mask), 0..2)?;
            graft_nn::bert::l2_normalize(&graft_nn::bert::masked_mean_pool(&out, &mask)?)
        },
        &[h],
        GradCheck::default(),
    )
    .unwrap();
}

#[test]
fn freezing_the_lower_layer_leaves_its_weights_without_gradients() {
    let model = tiny(7);
    for (name, p) in model.named_parameters() {
        let trainable = name.starts_with("encoder.layer.1.");
        p.set_requires_grad(trainable).unwrap();
    }
    let (ids, mask) = batch();
    model.sentence_embeddings(&ids, &mask).unwrap().sum_all().unwrap().backward().unwrap();
    for (name, p) in model.named_parameters() {
        assert_eq!(p.grad().is_some(), name.starts_with("encoder.layer.1."), "{name}");
    }
}

#[cfg(feature = "gpu")]
#[test]
fn the_encoder_on_the_gpu_gives_the_cpus_embeddings() {
    let device = match graft_engine::Device::gpu() {
        Ok(d) => d,
        Err(e) if std::env::var("GRAFT_REQUIRE_GPU").is_ok_and(|v| v == "1") => panic!("GRAFT_REQUIRE_GPU=1: {e}"),
        Err(e) => return eprintln!("skipping the GPU BERT test: {e}"),
    };
    let model = tiny(8);
    let (ids, mask) = batch();
    let cpu = model.sentence_embeddings(&ids, &mask).unwrap().to_vec().unwrap();
    graft_nn::move_to_device(&model, &device).unwrap();
    let out = model.sentence_embeddings(&ids, &mask).unwrap();
    assert_eq!(out.device(), device);
    for (g, c) in out.to_vec().unwrap().iter().zip(&cpu) {
        assert!((g - c).abs() < 1e-4, "gpu {g} vs cpu {c}");
    }
}

#[test]
fn a_deep_clone_is_equal_and_independent() {
    let model = tiny(9);
    model.layers[1].query.weight.set_requires_grad(false).unwrap();
    let copy = model.deep_clone().unwrap();
    let (ids, mask) = batch();
    let out = |m: &BertModel| m.sentence_embeddings(&ids, &mask).unwrap().to_vec().unwrap();
    assert_eq!(out(&copy), out(&model));
    for ((n, a), (_, b)) in model.named_parameters().iter().zip(copy.named_parameters()) {
        assert_eq!(a.requires_grad(), b.requires_grad(), "{n}");
    }
    copy.layers[0].output.weight.set_data(&Tensor::zeros(&[8, 12])).unwrap();
    assert_ne!(out(&copy), out(&model), "the copy's weights are its own");
}

#[test]
fn a_pytorch_model_bin_directory_loads_and_gives_hugging_faces_hidden_states() {
    // nn/tests/data/bert_pth: a tiny random transformers.BertModel saved with torch.save, as
    // older Hub repositories ship BERT, and its last hidden state (make_fixture.py).
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bert_pth");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bert_pytorch_model_bin");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "pytorch_model.bin"] {
        std::fs::copy(data.join(file), dir.join(file)).unwrap();
    }
    let _ = std::fs::remove_file(dir.join("model.safetensors"));
    let model = BertModel::load(&dir).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("expected.json")).unwrap()).unwrap();
    let want: Vec<f32> =
        expected["last_hidden_state"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let (ids, mask) = batch();
    let got = model.encode(&ids, Some(&mask)).unwrap();
    assert_eq!(got.shape(), &[2, 5, 8]);
    for (i, (g, w)) in got.to_vec().unwrap().iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "[{i}]: {g} vs {w}");
    }
    // Without either weights file the error names both.
    std::fs::remove_file(dir.join("pytorch_model.bin")).unwrap();
    let e = BertModel::load(&dir).err().expect("no weights").to_string();
    assert!(e.contains("model.safetensors") && e.contains("pytorch_model.bin"), "{e}");
}
