//! Allocation discipline on the CPU: once warmed up, a training step of a fixed model takes all
//! its poolable buffers (activations, gradients, updated parameters) from the host pool and
//! allocates none afresh.
//!
//! One test in its own binary: the pool and its counter are process-wide, and another test
//! allocating at the same time would move the counter.

use graft_engine::{host_pool_stats, Rng, Tensor};
use graft_nn::loss::cross_entropy;
use graft_nn::optim::{Optimizer, Sgd, SgdConfig};
use graft_nn::{parse_spec, Module};

/// Fresh pooled-size allocations made by `steps` SGD steps of `spec` on one fixed batch, after
/// `warmup` steps.
fn fresh_allocations_after_warmup(spec: &str, input: &[usize], momentum: f32) -> (u64, u64) {
    let net = parse_spec(spec, 0).expect("valid spec");
    let mut opt = Sgd::new(net.parameters(), SgdConfig { lr: 0.01, momentum, ..Default::default() });
    let x = Tensor::randn(input, 0.0, 1.0, &mut Rng::new(1));
    let labels: Vec<usize> = (0..input[0]).map(|i| i % 10).collect();
    let mut step = || {
        opt.zero_grad();
        let loss = cross_entropy(&net.forward(&x).expect("forward"), &labels).expect("loss");
        loss.backward().expect("backward");
        opt.step().expect("step");
    };
    for _ in 0..3 {
        step();
    }
    let warm = host_pool_stats().fresh_allocations;
    for _ in 0..20 {
        step();
    }
    (warm, host_pool_stats().fresh_allocations - warm)
}

#[test]
fn a_warm_training_step_allocates_no_fresh_buffers() {
    let mlp = "linear(784,300),relu,linear(300,100),relu,linear(100,10)";
    let convnet = "conv2d(1,32,3),relu,maxpool2d(2),conv2d(32,64,3),relu,maxpool2d(2),flatten,linear(1600,10)";
    for (name, spec, input, momentum) in [
        ("mlp, batch 32", mlp, vec![32, 784], 0.0),
        ("mlp, batch 256, momentum", mlp, vec![256, 784], 0.9),
        ("convnet, batch 16", convnet, vec![16, 1, 28, 28], 0.0),
    ] {
        let (warmup, later) = fresh_allocations_after_warmup(spec, &input, momentum);
        println!("{name}: {warmup} fresh pooled allocations in total by the end of warm-up, {later} in 20 more steps");
        assert!(warmup > 0, "{name}: the step's buffers are pooled sizes, so warm-up must have allocated some");
        assert_eq!(later, 0, "{name}: warm steps allocated {later} fresh buffers");
    }
}
