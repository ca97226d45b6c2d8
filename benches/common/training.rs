//! What the training-step benches share (`benches/ops.rs` on the CPU, `benches/gpu.rs`): random
//! batches cycled like a small dataset, and one SGD step.

use graft::engine::{Device, Rng, Tensor};
use graft::nn::loss::cross_entropy;
use graft::nn::optim::{Optimizer, Sgd};
use graft::nn::{Module, Sequential};

/// The CPU-speed issue's MLP.
pub const MLP: &str = "linear(784,300),relu,linear(300,100),relu,linear(100,10)";

/// Random batches cycled like a small dataset, with random labels. A benchmark that trains on
/// one fixed batch for thousands of iterations drives the loss towards zero and the gradients
/// into subnormal floats, which every CPU handles many times slower: the step time would then
/// depend on how long criterion ran. `benches/reference/pytorch_reference.py` uses the same
/// protocol.
pub struct Batches {
    inputs: Vec<Tensor>,
    labels: Vec<Vec<usize>>,
    next: usize,
}

impl Batches {
    /// `count` batches of `shape` on `dev`, labels in `0..classes`, drawn from `seed`.
    pub fn new(count: usize, shape: &[usize], classes: usize, seed: u64, dev: &Device) -> Batches {
        let mut rng = Rng::new(seed);
        let inputs =
            (0..count).map(|_| Tensor::randn(shape, 0.0, 1.0, &mut rng).to_device(dev).expect("upload")).collect();
        let labels = (0..count).map(|_| (0..shape[0]).map(|_| rng.below(classes)).collect()).collect();
        Batches { inputs, labels, next: 0 }
    }

    /// The same batches with each input replaced by `f(input)` (features of a frozen trunk).
    #[allow(dead_code, reason = "each bench compiles this file; only benches/ops.rs caches features")]
    pub fn map_inputs(self, f: impl Fn(&Tensor) -> Tensor) -> Batches {
        Batches { inputs: self.inputs.iter().map(f).collect(), ..self }
    }

    /// The next batch and its labels, cycling.
    pub fn next(&mut self) -> (&Tensor, &[usize]) {
        let i = self.next % self.inputs.len();
        self.next += 1;
        (&self.inputs[i], &self.labels[i])
    }
}

/// One SGD step (`zero_grad`, forward, cross-entropy, backward, `step`), as PyTorch's
/// `opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()`.
pub fn sgd_step(net: &Sequential, opt: &mut Sgd, batches: &mut Batches) {
    let (x, labels) = batches.next();
    opt.zero_grad();
    let logits = net.forward(x).expect("shapes fit");
    cross_entropy(&logits, labels).and_then(|l| l.backward()).expect("backward");
    opt.step().expect("update");
}
