//! GPU benchmarks, all on `Device::gpu()`: the cost of 100 tiny dispatches (the submission path);
//! square matmul from 64 to 4096 (GFLOP/s: criterion
//! reports the throughput in elements, one element per floating-point operation, `2·m·n·k` per
//! product); one SGD step of a 784-300-100-10 MLP at batch 32 and 256 (at 256 also on the CPU in
//! the same bench, the figure the GPU step has to beat); and one SGD step of the convnet of
//! `benches/ops.rs` at batch 64.
//!
//! Every timed iteration ends with `Device::synchronize`, so the time includes the GPU's
//! execution, not just recording the work. The training steps are `nn`'s own (`Sequential`,
//! `cross_entropy`, `Sgd`) on random batches cycled like a dataset, the protocol of
//! `benches/ops.rs` and `benches/reference/pytorch_reference.py`; nothing is read back. Without
//! a usable adapter the benches print why and do nothing.
//!
//! Run: `cargo bench --bench gpu` (add `-- matmul` to filter). `GRAFT_BENCH_MATMUL_MAX=512`
//! caps the matmul sizes (useful on a software driver such as lavapipe); `GRAFT_BENCH_GPU_STEPS=0`
//! skips the training steps. `scripts/device/gpu-bench.sh` runs this with PyTorch's CUDA twin
//! (`benches/reference/gpu_pytorch.py`) in one command.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graft::engine::{Device, Rng, Tensor};
use graft::nn::optim::{Sgd, SgdConfig};
use graft::nn::{move_to_device, parse_spec, Module, Sequential};
use training::{Batches, MLP};

#[path = "common/training.rs"]
mod training;

/// The GPU, or `None` after saying why the GPU benches are skipped.
fn gpu_or_skip(bench: &str) -> Option<Device> {
    match Device::gpu() {
        Ok(device) => {
            eprintln!("{bench}: running on {device}");
            Some(device)
        }
        Err(e) => {
            eprintln!("{bench}: skipped, no GPU: {e}");
            None
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn matmul(c: &mut Criterion) {
    let Some(dev) = gpu_or_skip("gpu_matmul") else { return };
    let max = env_usize("GRAFT_BENCH_MATMUL_MAX", 4096);
    let mut group = c.benchmark_group("gpu_matmul");
    group.sample_size(10);
    let mut rng = Rng::new(0);
    for n in [64usize, 128, 256, 512, 1024, 2048, 4096].into_iter().filter(|&n| n <= max) {
        let a = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng).to_device(&dev).expect("upload");
        let b = Tensor::randn(&[n, n], 0.0, 1.0, &mut rng).to_device(&dev).expect("upload");
        // Compile the pipeline and warm the buffer pool outside the timing.
        a.matmul(&b).expect("shapes fit");
        dev.synchronize().expect("synchronize");
        group.throughput(Throughput::Elements((2 * n * n * n) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{n}x{n}x{n}")), &(), |bench, _| {
            bench.iter(|| {
                let c = a.matmul(&b).expect("shapes fit");
                dev.synchronize().expect("synchronize");
                c
            })
        });
    }
    group.finish();
}

/// The submission path alone: 100 ReLUs of a 256-element tensor, each on the last one's output,
/// then one synchronize. Per-dispatch recording cost (bind group, parameters, pass) dominates:
/// the work itself is a few hundred floats.
fn dispatch_overhead(c: &mut Criterion) {
    let Some(dev) = gpu_or_skip("gpu_dispatch") else { return };
    let mut rng = Rng::new(4);
    let x = Tensor::randn(&[256], 0.0, 1.0, &mut rng).to_device(&dev).expect("upload");
    let chain = || {
        let mut y = x.clone();
        for _ in 0..100 {
            y = y.relu().expect("relu");
        }
        dev.synchronize().expect("synchronize");
        y
    };
    chain();
    let mut group = c.benchmark_group("gpu_dispatch");
    group.sample_size(20);
    group.bench_function("100_relu_256", |b| b.iter(chain));
    group.finish();
}

const BATCHES: usize = 16;

/// A model from `spec` on `dev` and its SGD optimiser.
fn model(spec: &str, dev: &Device) -> (Sequential, Sgd) {
    let net = parse_spec(spec, 0).expect("valid spec");
    move_to_device(&net, dev).expect("model on the device");
    let opt = Sgd::new(net.parameters(), SgdConfig { lr: 0.01, ..Default::default() });
    (net, opt)
}

/// One SGD step, then a wait for the device (a no-op on the CPU).
fn synced_step(net: &Sequential, opt: &mut Sgd, batches: &mut Batches, dev: &Device) {
    training::sgd_step(net, opt, batches);
    dev.synchronize().expect("synchronize");
}

const CONVNET: &str = "conv2d(1,32,3),relu,maxpool2d(2),conv2d(32,64,3),relu,maxpool2d(2),flatten,linear(1600,10)";

fn steps_enabled() -> bool {
    env_usize("GRAFT_BENCH_GPU_STEPS", 1) != 0
}

/// One SGD step of the 784-300-100-10 relu MLP at batch 32 and 256 on the GPU, and at 256 on
/// the CPU in the same run (the target is the GPU step beating the CPU step).
fn mlp_step(c: &mut Criterion) {
    if !steps_enabled() {
        return;
    }
    let Some(gpu) = gpu_or_skip("gpu_mlp_step") else { return };
    for batch in [32usize, 256] {
        let mut group = c.benchmark_group(format!("gpu_mlp_step_784_300_100_10_b{batch}"));
        group.sample_size(20);
        let devices: &[(&str, &Device)] =
            if batch == 256 { &[("gpu", &gpu), ("cpu", &Device::Cpu)] } else { &[("gpu", &gpu)] };
        for &(name, dev) in devices {
            let (net, mut opt) = model(MLP, dev);
            let mut batches = Batches::new(BATCHES, &[batch, 784], 10, 1, dev);
            // Compile pipelines and fill the buffer pool outside the timing.
            synced_step(&net, &mut opt, &mut batches, dev);
            group.bench_function(format!("train_step_{name}"), |b| {
                b.iter(|| synced_step(&net, &mut opt, &mut batches, dev))
            });
        }
        group.finish();
    }
}

/// One SGD step of the convnet 1x28x28 -> conv3x3 32 -> relu -> maxpool2 -> conv3x3 64 -> relu ->
/// maxpool2 -> linear 10 at batch 64 on the GPU.
fn convnet_step(c: &mut Criterion) {
    if !steps_enabled() {
        return;
    }
    let Some(dev) = gpu_or_skip("gpu_convnet_step") else { return };
    let (net, mut opt) = model(CONVNET, &dev);
    let mut batches = Batches::new(BATCHES, &[64, 1, 28, 28], 10, 2, &dev);
    synced_step(&net, &mut opt, &mut batches, &dev);
    let mut group = c.benchmark_group("gpu_convnet_step_b64");
    group.sample_size(10);
    group.bench_function("train_step_gpu", |b| b.iter(|| synced_step(&net, &mut opt, &mut batches, &dev)));
    group.finish();
}

criterion_group!(benches, dispatch_overhead, matmul, mlp_step, convnet_step);
criterion_main!(benches);
