//! Engine op benchmarks: matmul throughput and SGD training steps (the CPU-speed issue's MLP
//! at batch 32 and 256, frozen and not and on cached features, the transfer demo's model A, and
//! a convnet), each next to PyTorch's in `benches/reference/pytorch_reference.py`.
//!
//! Run: `cargo bench --bench ops` (add `-- mlp_step` to filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graft::engine::{Device, Rng, Tensor};
use graft::nn::optim::{Sgd, SgdConfig};
use graft::nn::{parse_spec, Module, Sequential};
use training::{sgd_step, Batches, MLP};

#[path = "common/training.rs"]
mod training;

/// Batches a training bench cycles through.
const BATCHES: usize = 64;

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10);
    let mut rng = Rng::new(0);
    let shapes: &[(usize, usize, usize)] =
        &[(64, 64, 64), (256, 256, 256), (512, 512, 512), (32, 300, 784), (32, 100, 300)];
    for &(m, n, k) in shapes {
        let a = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{m}x{n}x{k}")), &(), |bench, _| {
            bench.iter(|| a.matmul(&b).expect("shapes fit"))
        });
    }
    group.finish();
}

/// A model from a spec whose first `frozen` layers' parameters are frozen, and its optimiser.
fn model(spec: &str, frozen_layers: usize) -> (Sequential, Sgd) {
    let net = parse_spec(spec, 0).expect("valid spec");
    for (_, layer) in net.iter().take(frozen_layers) {
        for p in layer.parameters() {
            p.set_requires_grad(false).expect("parameters are leaves");
        }
    }
    let opt = Sgd::new(net.parameters(), SgdConfig { lr: 0.01, ..Default::default() });
    (net, opt)
}

/// One SGD step of a 784-300-100-10 MLP at batch 32 and 256: all layers trainable, the first
/// two linear layers frozen (their backward work is skipped), and the head alone trained on the
/// frozen layers' cached features (what `graft transfer` does with the feature cache).
fn mlp_step(c: &mut Criterion) {
    for batch in [32usize, 256] {
        let mut group = c.benchmark_group(format!("mlp_step_784_300_100_10_b{batch}"));
        group.sample_size(20);
        let mut batches = Batches::new(BATCHES, &[batch, 784], 10, 1, &Device::Cpu);
        // Layers: linear, relu, linear, relu, linear — "first two frozen" is the first four.
        for (name, frozen) in [("all_trainable", 0), ("first_two_frozen", 4)] {
            let (net, mut opt) = model(MLP, frozen);
            group.bench_function(name, |b| b.iter(|| sgd_step(&net, &mut opt, &mut batches)));
        }
        let (net, _) = model(MLP, 0);
        let (trunk, head) = (net.slice(0..4), net.slice(4..5));
        let mut opt = Sgd::new(head.parameters(), SgdConfig { lr: 0.01, ..Default::default() });
        let batches = Batches::new(BATCHES, &[batch, 784], 10, 1, &Device::Cpu);
        let mut cached = graft::engine::no_grad(|| batches.map_inputs(|x| trunk.forward(x).expect("trunk")));
        group.bench_function("head_on_cached_features", |b| b.iter(|| sgd_step(&head, &mut opt, &mut cached)));
        group.finish();
    }
}

/// The transfer demo's model A (784-100-100-100-8, batch 32), all trainable.
fn model_a_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("model_a_step_784_100_100_100_8_b32");
    group.sample_size(20);
    let (net, mut opt) = model("linear(784,100),relu,linear(100,100),relu,linear(100,100),relu,linear(100,8)", 0);
    let mut batches = Batches::new(BATCHES, &[32, 784], 8, 3, &Device::Cpu);
    group.bench_function("all_trainable", |b| b.iter(|| sgd_step(&net, &mut opt, &mut batches)));
    group.finish();
}

/// One SGD step of the convnet 1x28x28 -> conv3x3 32 -> relu -> maxpool2 -> conv3x3 64 -> relu ->
/// maxpool2 -> linear 10 at batch 64.
fn convnet_step(c: &mut Criterion) {
    let (net, mut opt) =
        model("conv2d(1,32,3),relu,maxpool2d(2),conv2d(32,64,3),relu,maxpool2d(2),flatten,linear(1600,10)", 0);
    let mut batches = Batches::new(BATCHES, &[64, 1, 28, 28], 10, 2, &Device::Cpu);
    let mut group = c.benchmark_group("convnet_step_b64");
    group.sample_size(10);
    group.bench_function("train_step", |b| b.iter(|| sgd_step(&net, &mut opt, &mut batches)));
    group.finish();
}

criterion_group!(benches, matmul, mlp_step, model_a_step, convnet_step);
criterion_main!(benches);
