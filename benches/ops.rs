//! Engine op benchmarks: matmul throughput and an MLP training step, frozen and not.
//!
//! Run: `cargo bench --bench ops` (add `-- matmul` to filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graft::engine::{Rng, Tensor};

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

/// One SGD step of a 784-300-100-10 MLP at batch 32 and 256, with all layers trainable and
/// with the first two layers frozen (their backward work is skipped).
fn mlp_step(c: &mut Criterion) {
    for batch in [32usize, 256] {
        mlp_step_at(c, batch);
    }
}

fn mlp_step_at(c: &mut Criterion, batch: usize) {
    let mut group = c.benchmark_group(format!("mlp_step_784_300_100_10_b{batch}"));
    group.sample_size(20);
    let mut rng = Rng::new(1);
    let x = Tensor::randn(&[batch, 784], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    for frozen in [0usize, 2] {
        let dims = [(300, 784), (100, 300), (10, 100)];
        let params: Vec<Tensor> = dims
            .iter()
            .enumerate()
            .flat_map(|(i, &(o, inp))| {
                let train = i >= frozen;
                [
                    Tensor::randn(&[o, inp], 0.0, 0.05, &mut rng).requires_grad_(train).expect("leaf"),
                    Tensor::zeros(&[o]).requires_grad_(train).expect("leaf"),
                ]
            })
            .collect();
        group.bench_function(BenchmarkId::new("frozen_layers", frozen), |bench| {
            bench.iter(|| {
                let mut h = x.clone();
                for (l, pair) in params.chunks(2).enumerate() {
                    h = h.matmul_t(&pair[0], false, true).and_then(|t| t.add(&pair[1])).expect("shapes fit");
                    if l < 2 {
                        h = h.relu().expect("relu");
                    }
                }
                let loss = h
                    .log_softmax(1)
                    .and_then(|t| t.gather(1, &labels, &[batch, 1]))
                    .and_then(|t| t.mean_all())
                    .expect("loss");
                loss.neg().and_then(|l| l.backward()).expect("backward");
                // PyTorch's `opt.step(); opt.zero_grad()` for plain SGD.
                for p in params.iter().filter(|p| p.requires_grad()) {
                    let g = p.grad().expect("trainable parameter has a gradient");
                    p.add_scaled_(&g, -0.01).expect("update");
                    p.zero_grad();
                }
            })
        });
    }
    group.finish();
}

/// One SGD step of the convnet 1x28x28 -> conv3x3 32 -> relu -> maxpool2 -> conv3x3 64 -> relu ->
/// maxpool2 -> linear 10 at batch 64.
fn convnet_step(c: &mut Criterion) {
    use graft::nn::optim::{Optimizer, Sgd, SgdConfig};
    use graft::nn::Module;
    let net = graft::nn::parse_spec(
        "conv2d(1,32,3),relu,maxpool2d(2),conv2d(32,64,3),relu,maxpool2d(2),flatten,linear(1600,10)",
        0,
    )
    .expect("valid spec");
    let mut opt = Sgd::new(net.parameters(), SgdConfig { lr: 0.01, ..Default::default() });
    let mut rng = Rng::new(2);
    let x = Tensor::randn(&[64, 1, 28, 28], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("convnet_step_b64");
    group.sample_size(10);
    group.bench_function("train_step", |b| {
        b.iter(|| {
            opt.zero_grad();
            let logits = net.forward(&x).expect("shapes fit");
            graft::nn::loss::cross_entropy(&logits, &labels).and_then(|l| l.backward()).expect("backward");
            opt.step().expect("update");
        })
    });
    group.finish();
}

criterion_group!(benches, matmul, mlp_step, convnet_step);
criterion_main!(benches);
