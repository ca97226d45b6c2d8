//! torchvision's MobileNetV2 on the CPU, at the image demo's size (batch 32, 96 × 96 RGB): one
//! forward of the whole ImageNet model (inference, eval-mode BatchNorm), and one fine-tuning
//! step with the top two feature blocks and a new 10-way head trainable (the lower blocks
//! frozen: eval-mode BatchNorm, no graph, no backward work). `python3
//! benches/reference/mobilenet_pytorch.py` times the same two in PyTorch (CPU, 2 threads) for
//! comparison in the same sitting.
//!
//! Needs the weights: `bash scripts/fetch-mobilenet.sh` (or `GRAFT_MOBILENET_PTH`); without
//! them the bench says so and measures nothing.
//!
//! Run: `cargo bench --bench mobilenet`

use criterion::{criterion_group, criterion_main, Criterion};
use graft::engine::{no_grad, Rng, Tensor};
use graft::nn::loss::cross_entropy;
use graft::nn::mobilenet::{mobilenet_v2, LAST_FEATURE_BLOCK};
use graft::nn::model_file::{load_state_dict, LoadOptions};
use graft::nn::optim::{Optimizer, Sgd, SgdConfig};
use graft::nn::spec::parse_spec;
use graft::nn::Module;
use graft::transfer::{graft_head, set_training_mode, TrainableMask};
use std::path::PathBuf;

const BATCH: usize = 32;
const SIDE: usize = 96;

fn weights() -> Option<PathBuf> {
    let path = std::env::var_os("GRAFT_MOBILENET_PTH").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/mobilenet_v2/mobilenet_v2-b0353104.pth"))
    });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("mobilenet bench: no weights at {} — run `bash scripts/fetch-mobilenet.sh`", path.display());
        None
    }
}

fn mobilenet(c: &mut Criterion) {
    let Some(path) = weights() else { return };
    let model = mobilenet_v2(1000, 0);
    load_state_dict(&model, &path, LoadOptions::default()).expect("the fetched weights load");
    let x = Tensor::randn(&[BATCH, 3, SIDE, SIDE], 0.0, 1.0, &mut Rng::new(0));
    let mut group = c.benchmark_group(format!("mobilenet_v2_b{BATCH}_{SIDE}px"));
    group.sample_size(10);

    model.set_training(false);
    group.bench_function("forward_logits", |b| b.iter(|| no_grad(|| model.forward(&x).expect("forward"))));

    let encoder = model.slice(..LAST_FEATURE_BLOCK + 2);
    let head = parse_spec("linear(1280,10)", 1).expect("valid spec");
    let tuned = graft_head(&encoder, &head, &[3, SIDE, SIDE]).expect("the head fits");
    TrainableMask::head_and_top_units(&tuned, encoder.len(), 2).apply(&tuned).expect("mask fits");
    set_training_mode(&tuned, true);
    let labels: Vec<usize> = (0..BATCH).map(|i| i % 10).collect();
    let mut opt = Sgd::new(tuned.trainable_parameters(), SgdConfig { lr: 1e-3, ..Default::default() });
    group.bench_function("finetune_step_top2_blocks", |b| {
        b.iter(|| {
            opt.zero_grad();
            let loss = cross_entropy(&tuned.forward(&x).expect("forward"), &labels).expect("labels fit");
            loss.backward().expect("backward");
            opt.step().expect("update");
        })
    });
    group.finish();
}

criterion_group!(benches, mobilenet);
criterion_main!(benches);
