//! The transfer workflow on a BERT encoder (a small one made here; the real all-MiniLM-L6-v2
//! runs in `nn/tests/minilm.rs` and the CLI tests): each encoder layer is one layer unit, so
//! grafting a head, unit masks, name globs, phases with the feature cache and the sweep work
//! on it as on any `Sequential`, and frozen encoder layers do no backward work.

use graft::engine::{op_stats, reset_op_stats, Rng, Tensor};
use graft::nn::bert::{BertConfig, BertModel};
use graft::nn::data::{Dataset, Targets};
use graft::nn::layers::Linear;
use graft::nn::train::{LossKind, MetricKind};
use graft::nn::{load_model, save_model, Module, Sequential};
use graft::transfer::{
    cacheable_prefix, count_units, graft_head, run_schedule, set_training_mode, sweep, Schedule, SweepConfig,
    SweepData, TrainableMask, UNFREEZE_ALL,
};

const TINY: &str = r#"{"model_type": "bert", "vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 3,
    "num_attention_heads": 2, "intermediate_size": 12, "max_position_embeddings": 10}"#;
const SEQ: usize = 6;

fn encoder(seed: u64) -> Sequential {
    BertModel::new(BertConfig::from_json(TINY, "tiny").unwrap(), false, &mut Rng::new(seed)).into_sequential()
}

/// `n` token sequences `[n, 2, SEQ]` (ids, then the mask) of varying length; class 1 when the
/// sentence contains token 7.
fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 3 + rng.below(SEQ - 2);
        let ids: Vec<f32> = (0..SEQ).map(|t| if t < len { (1 + rng.below(29)) as f32 } else { 0.0 }).collect();
        labels.push(usize::from(ids[..len].contains(&7.0)));
        x.extend(&ids);
        x.extend((0..SEQ).map(|t| if t < len { 1.0 } else { 0.0 }));
    }
    Dataset::new(Tensor::from_vec(x, &[n, 2, SEQ]).unwrap(), Targets::Classes(labels)).unwrap()
}

fn head(seed: u64) -> Sequential {
    Sequential::new().layer(Linear::new(8, 2, &mut Rng::new(seed)))
}

#[test]
fn the_sequential_form_gives_the_encoders_sentence_embeddings() {
    let config = BertConfig::from_json(TINY, "tiny").unwrap();
    let model = BertModel::new(config, false, &mut Rng::new(1));
    let d = data(5, 2);
    let ids = d.x().narrow(1, 0, 1).unwrap().reshape(&[5, SEQ]).unwrap();
    let mask = d.x().narrow(1, 1, 1).unwrap().reshape(&[5, SEQ]).unwrap();
    let want = model.sentence_embeddings(&ids, &mask).unwrap().to_vec().unwrap();
    let seq = model.into_sequential();
    assert_eq!(count_units(&seq), 4, "embeddings + 3 encoder layers");
    let got = seq.forward(d.x()).unwrap();
    assert_eq!(got.shape(), &[5, 8]);
    assert_eq!(got.to_vec().unwrap(), want);
    assert_eq!(seq.name_of(3), "encoder.layer.2");
}

#[test]
fn a_saved_fine_tuned_text_model_loads_back_from_its_spec() {
    let model = graft_head(&encoder(3), &head(4), &[2, SEQ]).unwrap();
    let path = std::env::temp_dir().join(format!("graft-bert-{}.safetensors", std::process::id()));
    save_model(&model, &path).unwrap();
    let loaded = load_model(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(loaded.spec(), model.spec());
    let names = |m: &Sequential| m.named_parameters().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(names(&loaded), names(&model));
    let x = data(4, 5);
    assert_eq!(loaded.forward(x.x()).unwrap().to_vec().unwrap(), model.forward(x.x()).unwrap().to_vec().unwrap());
}

#[test]
fn frozen_encoder_layers_do_no_backward_work() {
    let model = graft_head(&encoder(6), &head(7), &[2, SEQ]).unwrap();
    let head_start = model.len() - 1;
    let d = data(8, 8);
    let labels = d.targets().as_classes().unwrap().to_vec();
    let mut backward_matmuls = Vec::new();
    for k in 0..=3 {
        TrainableMask::head_and_top_units(&model, 4, k).apply(&model).unwrap();
        set_training_mode(&model, true);
        for p in model.parameters() {
            p.zero_grad();
        }
        let loss = graft::nn::loss::cross_entropy(&model.forward(d.x()).unwrap(), &labels).unwrap();
        reset_op_stats();
        loss.backward().unwrap();
        backward_matmuls.push(op_stats().backward_launches("matmul"));
        for (name, p) in model.named_parameters() {
            let layer: usize = name.strip_prefix("encoder.layer.").map_or(usize::MAX, |r| r[..1].parse().unwrap());
            let trains = name.starts_with(&format!("{head_start}.")) || (layer != usize::MAX && layer + k >= 3);
            assert_eq!(p.grad().is_some(), trains, "k = {k}: {name}");
        }
    }
    assert_eq!(backward_matmuls[0], 1, "head only: the head's ∂W and nothing below ({backward_matmuls:?})");
    assert!(backward_matmuls[1] > backward_matmuls[0], "{backward_matmuls:?}");
    // Each layer unfrozen below the top one adds the same work: its own, and its input's
    // gradient through the layer above.
    let added = backward_matmuls[2] - backward_matmuls[1];
    assert!(added > 0 && backward_matmuls[3] - backward_matmuls[2] == added, "{backward_matmuls:?}");
    // A glob by Hugging Face name selects the same parameters as the top unit.
    let glob = TrainableMask::pattern(&model, "encoder.layer.2.*").unwrap();
    assert_eq!(glob.trainable_names().len(), 16);
}

#[test]
fn phases_with_the_feature_cache_and_a_sweep_run_on_the_encoder() {
    let (train, val, test) = (data(48, 10), data(24, 11), data(24, 12));
    let model = graft_head(&encoder(9), &head(10), &[2, SEQ]).unwrap();
    let schedule = Schedule {
        phases: Schedule::freeze_then_finetune(model.len() - 1, 1, (3, 0.5), (2, 0.05)),
        batch_size: 16,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: 0,
        feature_cache: true,
    };
    let before = encoder(9).named_parameters();
    let result = run_schedule(&model, &schedule, &train, Some(&val), &mut |_| {}).unwrap();
    assert_eq!(result.phases[0].cached_layers, model.len() - 1, "the head phase trains on cached embeddings");
    assert_eq!(result.phases[1].cached_layers, 3, "fine-tuning the top layer caches embeddings + 2 layers");
    let after: std::collections::HashMap<_, _> = model.named_parameters().into_iter().collect();
    for (name, p) in before {
        if name.ends_with("attention.self.key.bias") {
            continue; // shifts every score of a query alike, which softmax ignores: its gradient is 0
        }
        let changed = p.to_vec().unwrap() != after[&name].to_vec().unwrap();
        assert_eq!(changed, name.starts_with("encoder.layer.2."), "{name}");
    }
    TrainableMask::head_and_top_units(&model, 4, 0).apply(&model).unwrap();
    assert_eq!(cacheable_prefix(&model), model.len() - 1, "a frozen encoder is cacheable as a whole");

    let config = SweepConfig {
        reuse: vec![4],
        unfreeze: vec![0, 1, UNFREEZE_ALL],
        finetune_lrs: vec![0.05],
        head_epochs: 2,
        head_lr: 0.5,
        finetune_epochs: 1,
        batch_size: 16,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: 0,
        feature_cache: true,
        parallel: false,
    };
    let report =
        sweep(&encoder(9), &|_| Ok(head(10)), SweepData { train: &train, val: &val, test: &test }, &config).unwrap();
    assert_eq!(report.trials.iter().map(|t| t.unfreeze).collect::<Vec<_>>(), vec![0, 1, 4]);
}
