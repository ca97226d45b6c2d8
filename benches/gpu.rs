//! GPU benchmarks: square matmul from 64 to 2048 (GFLOP/s: criterion reports the throughput in
//! elements, one element per floating-point operation, `2·m·n·k` per product) and one SGD step
//! of a 784-300-100-10 MLP at batch 32, all on `Device::gpu()`.
//!
//! Every timed iteration ends with `Device::synchronize`, so the time includes the GPU's
//! execution, not just recording the work. Without a usable adapter the benches print why and
//! do nothing.
//!
//! Run: `cargo bench --bench gpu` (add `-- matmul` to filter). `GRAFT_BENCH_MATMUL_MAX=512`
//! caps the matmul sizes (useful on a software driver such as lavapipe).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graft::engine::{Device, Rng, Tensor};

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

fn matmul(c: &mut Criterion) {
    let Some(dev) = gpu_or_skip("gpu_matmul") else { return };
    let max: usize = std::env::var("GRAFT_BENCH_MATMUL_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let mut group = c.benchmark_group("gpu_matmul");
    group.sample_size(10);
    let mut rng = Rng::new(0);
    for n in [64usize, 128, 256, 512, 1024, 2048].into_iter().filter(|&n| n <= max) {
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

/// One SGD step (forward, backward, update) of a 784-300-100-10 relu MLP at batch 32 on the GPU.
fn mlp_step(c: &mut Criterion) {
    let Some(dev) = gpu_or_skip("gpu_mlp_step") else { return };
    let mut group = c.benchmark_group("gpu_mlp_step_784_300_100_10_b32");
    group.sample_size(20);
    let mut rng = Rng::new(1);
    let x = Tensor::randn(&[32, 784], 0.0, 1.0, &mut rng).to_device(&dev).expect("upload");
    let labels: Vec<usize> = (0..32).map(|i| i % 10).collect();
    let params: Vec<Tensor> = [(300, 784), (100, 300), (10, 100)]
        .iter()
        .flat_map(|&(o, inp)| {
            [Tensor::randn(&[o, inp], 0.0, 0.05, &mut rng), Tensor::zeros(&[o])]
                .map(|t| t.to_device(&dev).and_then(|t| t.requires_grad_(true)).expect("upload"))
        })
        .collect();
    let step = || {
        let mut h = x.clone();
        for (l, pair) in params.chunks(2).enumerate() {
            h = h.matmul_t(&pair[0], false, true).and_then(|t| t.add(&pair[1])).expect("shapes fit");
            if l < 2 {
                h = h.relu().expect("relu");
            }
        }
        let loss =
            h.log_softmax(1).and_then(|t| t.gather(1, &labels, &[32, 1])).and_then(|t| t.mean_all()).expect("loss");
        loss.neg().and_then(|l| l.backward()).expect("backward");
        for p in &params {
            let g = p.grad().expect("trainable parameter has a gradient");
            p.add_scaled_(&g, -0.01).expect("update");
            p.zero_grad();
        }
        dev.synchronize().expect("synchronize");
    };
    step(); // compile pipelines, fill the buffer pool
    group.bench_function("train_step", |bench| bench.iter(step));
    group.finish();
}

criterion_group!(benches, matmul, mlp_step);
criterion_main!(benches);
