//! Optimiser trajectories against PyTorch's `torch.optim` (see
//! `data/torch-reference/make_reference.py`): five steps minimising `Σ (p − t)²`.

use graft_engine::Tensor;
use graft_nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};

const OPTIM: &[u8] = include_bytes!("data/torch-reference/optim.safetensors");

fn tensor(name: &str) -> (Vec<usize>, Vec<f32>) {
    let st = safetensors::SafeTensors::deserialize(OPTIM).expect("the committed reference file is valid");
    let view = st.tensor(name).expect("reference tensor present");
    let data = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (view.shape().to_vec(), data)
}

fn follow(name: &str, make: impl Fn(Vec<Tensor>) -> Box<dyn Optimizer>) {
    let (shape, p0) = tensor("p0");
    let (_, target) = tensor("target");
    let (_, want) = tensor(name);
    let p = Tensor::from_vec(p0, &shape).unwrap().requires_grad_(true).unwrap();
    let t = Tensor::from_vec(target, &shape).unwrap();
    let mut opt = make(vec![p.clone()]);
    for (step, expected) in want.chunks(shape[0]).enumerate() {
        opt.zero_grad();
        p.sub(&t).unwrap().square().unwrap().sum_all().unwrap().backward().unwrap();
        opt.step().unwrap();
        for (a, b) in p.to_vec().unwrap().iter().zip(expected) {
            assert!((a - b).abs() <= 1e-5 + 1e-5 * b.abs(), "{name} step {step}: graft {a} vs PyTorch {b}");
        }
    }
}

#[test]
fn sgd_variants_follow_pytorch() {
    follow("sgd", |p| Box::new(Sgd::new(p, SgdConfig { lr: 0.1, ..Default::default() })));
    follow("sgd_momentum", |p| Box::new(Sgd::new(p, SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })));
    follow("sgd_nesterov_wd", |p| {
        Box::new(Sgd::new(p, SgdConfig { lr: 0.05, momentum: 0.8, nesterov: true, weight_decay: 0.01 }))
    });
}

#[test]
fn adam_variants_follow_pytorch() {
    follow("adam", |p| Box::new(Adam::new(p, AdamConfig { lr: 0.1, ..Default::default() })));
    follow("adam_wd", |p| Box::new(Adam::new(p, AdamConfig { lr: 0.05, weight_decay: 0.1, ..Default::default() })));
    follow("adamw", |p| {
        Box::new(Adam::new(p, AdamConfig { lr: 0.05, weight_decay: 0.1, decoupled: true, ..Default::default() }))
    });
}
