//! Engine op benchmarks: matmul throughput and an MLP training step, frozen and not.
//!
//! Run: `cargo bench --bench ops` (add `-- matmul` to filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use graft::engine::{no_grad, Rng, Tensor};

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

/// One SGD step of a 784-300-100-10 MLP at batch 32, with all layers trainable and with the
/// first two layers frozen (their backward work is skipped).
fn mlp_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("mlp_step_784_300_100_10_b32");
    group.sample_size(20);
    let mut rng = Rng::new(1);
    let x = Tensor::randn(&[32, 784], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..32).map(|i| i % 10).collect();
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
                    .and_then(|t| t.gather(1, &labels, &[32, 1]))
                    .and_then(|t| t.mean_all())
                    .expect("loss");
                loss.neg().and_then(|l| l.backward()).expect("backward");
                no_grad(|| {
                    for p in params.iter().filter(|p| p.requires_grad()) {
                        let g = p.grad().expect("trainable parameter has a gradient");
                        p.set_data(&p.sub(&g.mul_scalar(0.01).expect("scale")).expect("sub")).expect("update");
                        p.zero_grad();
                    }
                });
            })
        });
    }
    group.finish();
}

criterion_group!(benches, matmul, mlp_step);
criterion_main!(benches);
