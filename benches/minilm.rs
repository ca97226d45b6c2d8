//! all-MiniLM-L6-v2 on the CPU: one forward of a batch of 32 sequences of 64 tokens (inference,
//! sentence embeddings), and one fine-tuning step with the top encoder layer and a 2-way head
//! trainable (the lower five layers and the embeddings frozen: they record no graph and cost
//! no backward work). `python3 benches/reference/minilm_pytorch.py` times the same two in
//! PyTorch (CPU, 2 threads) for comparison in the same sitting.
//!
//! Needs the model: `bash scripts/fetch-minilm.sh` (or `GRAFT_MINILM_DIR`); without it the
//! bench says so and measures nothing.
//!
//! Run: `cargo bench --bench minilm`

use criterion::{criterion_group, criterion_main, Criterion};
use graft::engine::{no_grad, Rng, Tensor};
use graft::nn::bert::BertModel;
use graft::nn::loss::cross_entropy;
use graft::nn::optim::{Optimizer, Sgd, SgdConfig};
use graft::nn::spec::parse_spec;
use graft::nn::Module;
use graft::transfer::{graft_head, set_training_mode, TrainableMask};
use std::path::PathBuf;

const BATCH: usize = 32;
const SEQ: usize = 64;

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GRAFT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/all-MiniLM-L6-v2")));
    if dir.join("model.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!("minilm bench: no model in {} — run `bash scripts/fetch-minilm.sh`", dir.display());
        None
    }
}

/// `[BATCH, 2, SEQ]`: random word-piece ids (as a tokenizer gives: [CLS] … [SEP]) and a full mask.
fn inputs(vocab: usize) -> Tensor {
    let mut rng = Rng::new(0);
    let mut x = Vec::with_capacity(BATCH * 2 * SEQ);
    for _ in 0..BATCH {
        x.extend((0..SEQ).map(|t| match t {
            0 => 101.0,
            t if t == SEQ - 1 => 102.0,
            _ => (1000 + rng.below(vocab - 1000)) as f32,
        }));
        x.extend(std::iter::repeat_n(1.0, SEQ));
    }
    Tensor::from_vec(x, &[BATCH, 2, SEQ]).expect("sizes fit")
}

fn minilm(c: &mut Criterion) {
    let Some(dir) = model_dir() else { return };
    let bert = BertModel::load(&dir).expect("the fetched model loads");
    let x = inputs(bert.config.vocab_size);
    let encoder = bert.into_sequential();
    let mut group = c.benchmark_group(format!("minilm_b{BATCH}_t{SEQ}"));
    group.sample_size(10);

    encoder.set_training(false);
    group.bench_function("forward_sentence_embeddings", |b| {
        b.iter(|| no_grad(|| encoder.forward(&x).expect("forward")))
    });

    let head = parse_spec("linear(384,2)", 1).expect("valid spec");
    let model = graft_head(&encoder, &head, &[2, SEQ]).expect("the head fits");
    TrainableMask::head_and_top_units(&model, 7, 1).apply(&model).expect("mask fits");
    set_training_mode(&model, true);
    let labels: Vec<usize> = (0..BATCH).map(|i| i % 2).collect();
    let mut opt = Sgd::new(model.trainable_parameters(), SgdConfig { lr: 1e-3, ..Default::default() });
    group.bench_function("finetune_step_top_layer", |b| {
        b.iter(|| {
            opt.zero_grad();
            let loss = cross_entropy(&model.forward(&x).expect("forward"), &labels).expect("labels fit");
            loss.backward().expect("backward");
            opt.step().expect("update");
        })
    });
    group.finish();
}

criterion_group!(benches, minilm);
criterion_main!(benches);
