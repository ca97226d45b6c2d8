//! One SGD step of the demo's model B-on-A (784-100-100-100-2, batch 32) three ways: everything
//! trainable, the trunk frozen (no backward work below the head), and the head alone on cached
//! trunk features (what the frozen-prefix feature cache trains).
//!
//! Run: `cargo bench --bench transfer`

use criterion::{criterion_group, criterion_main, Criterion};
use graft::engine::{Rng, Tensor};
use graft::nn::loss::cross_entropy;
use graft::nn::optim::{Optimizer, Sgd, SgdConfig};
use graft::nn::spec::parse_spec;
use graft::nn::{Module, Sequential};
use graft::transfer::{set_training_mode, TrainableMask};

fn step(model: &Sequential, opt: &mut Sgd, x: &Tensor, labels: &[usize]) {
    opt.zero_grad();
    let loss = cross_entropy(&model.forward(x).expect("shapes fit"), labels).expect("labels fit");
    loss.backward().expect("the loss is a scalar with a graph");
    opt.step().expect("update");
}

fn transfer_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("b_on_a_step_b32");
    let spec = "flatten,linear(784,100),relu,linear(100,100),relu,linear(100,100),relu,linear(100,2)";
    let mut rng = Rng::new(0);
    let x = Tensor::rand_uniform(&[32, 1, 28, 28], 0.0, 1.0, &mut rng);
    let labels: Vec<usize> = (0..32).map(|i| i % 2).collect();

    let all = parse_spec(spec, 1).expect("valid spec");
    let mut opt = Sgd::new(all.trainable_parameters(), SgdConfig { lr: 1e-3, ..Default::default() });
    group.bench_function("all_trainable", |b| b.iter(|| step(&all, &mut opt, &x, &labels)));

    let frozen = parse_spec(spec, 1).expect("valid spec");
    TrainableMask::from_layer(&frozen, 7).apply(&frozen).expect("mask fits");
    set_training_mode(&frozen, true);
    let mut opt = Sgd::new(frozen.trainable_parameters(), SgdConfig { lr: 1e-3, ..Default::default() });
    group.bench_function("trunk_frozen", |b| b.iter(|| step(&frozen, &mut opt, &x, &labels)));

    let features = frozen.slice(..7).forward(&x).expect("trunk runs");
    let head = frozen.slice(7..);
    let mut opt = Sgd::new(head.trainable_parameters(), SgdConfig { lr: 1e-3, ..Default::default() });
    group.bench_function("feature_cache_head_only", |b| b.iter(|| step(&head, &mut opt, &features, &labels)));
    group.finish();
}

criterion_group!(benches, transfer_step);
criterion_main!(benches);
