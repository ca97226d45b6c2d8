//! The `Module` trait: what every layer and container provides.

use graft_engine::{ConvActivation, Result, Tensor};

/// A layer or a container of layers.
///
/// Parameter names follow PyTorch's `state_dict` convention (`weight`, `0.bias`,
/// `features.3.weight`), and weights use PyTorch layouts, so PyTorch files load unchanged.
/// Modules are shared immutably (`&self`); parameters and buffers are [`Tensor`]s whose values
/// are updated in place, and the train/eval flag lives behind interior mutability.
pub trait Module: Send + Sync {
    /// Applies the layer to a batch.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// [`forward`](Module::forward) inside a chain of layers, with the chain's
    /// [`SideInputs`](crate::SideInputs) (an attention mask, …): a layer with several inputs
    /// reads, sets or consumes them here and takes and gives plain activations, so nothing is
    /// packed between the layers of one [`Sequential`](crate::Sequential). Layers with one
    /// input keep the default, which ignores them.
    fn forward_with(&self, x: &Tensor, side: &mut crate::SideInputs) -> Result<Tensor> {
        let _ = side;
        self.forward(x)
    }

    /// Learnable tensors by name (weights, biases), in a stable order.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Non-learnable state saved with the model (batch-norm running statistics).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Switches between training (true) and evaluation (false) behaviour. Containers pass the
    /// flag on to their children.
    fn set_training(&self, _training: bool) {}

    /// Whether the layer is in training mode.
    fn is_training(&self) -> bool {
        false
    }

    /// The layer in graft's architecture spec language, e.g. `linear(784,300)`; parsing it
    /// back gives an identically shaped layer.
    fn spec(&self) -> String;

    /// A deep copy: new parameter tensors with the same values and `requires_grad` flags.
    fn clone_module(&self) -> Result<Box<dyn Module>>;

    /// Whether the layer computes the same function in eval mode on every call (no dropout
    /// randomness while evaluating). Used to decide whether a frozen prefix can be cached.
    fn is_deterministic_in_eval(&self) -> bool {
        true
    }

    /// This layer followed by a ReLU as one op, for layers that have such a fused form (Linear:
    /// [`Tensor::linear_relu`](graft_engine::Tensor::linear_relu)); `None` otherwise.
    /// [`Sequential`](crate::Sequential) calls it for a layer whose next layer
    /// [`is_relu`](Module::is_relu), and skips that ReLU. The result must equal `forward`
    /// followed by `relu`.
    fn forward_then_relu(&self, _x: &Tensor) -> Option<Result<Tensor>> {
        None
    }

    /// This layer followed by the BatchNorm `bn` (and then the activation `act`) as one op, for
    /// layers that have such a fused form (Conv2d: [`Tensor::conv2d_fused`], BatchNorm's
    /// running statistics folded into a per-channel scale and shift applied while each image's
    /// output is in cache). `None` when the layer has none, or when `bn` cannot be folded
    /// because it normalises with batch statistics or its parameters are to receive gradients
    /// ([`BatchNorm::frozen_affine`](crate::layers::BatchNorm::frozen_affine)).
    /// [`Sequential`](crate::Sequential) calls it for a layer followed by a BatchNorm, and skips
    /// the layers it consumed. The result must equal running the layers one by one, up to
    /// rounding.
    fn forward_then_batch_norm(
        &self,
        _x: &Tensor,
        _bn: &crate::layers::BatchNorm,
        _act: ConvActivation,
    ) -> Option<Result<Tensor>> {
        None
    }

    /// This layer as a BatchNorm, when it is one.
    fn as_batch_norm(&self) -> Option<&crate::layers::BatchNorm> {
        None
    }

    /// The activation this layer is, when a convolution's epilogue can apply it exactly (ReLU,
    /// ReLU6).
    fn as_conv_activation(&self) -> Option<ConvActivation> {
        None
    }

    /// Whether this layer is exactly `max(x, 0)` (the [`Relu`](crate::layers::Relu) layer).
    fn is_relu(&self) -> bool {
        false
    }

    /// Whether `self(relu(x))` equals `relu(self(x))` exactly, in values and in gradients (max
    /// pooling: a window's first maximum is the same before and after a ReLU, NaN included).
    /// [`Sequential`](crate::Sequential) then runs a ReLU in front of this layer after it, on
    /// its output, which for a pool is a quarter of the values to rectify and differentiate.
    fn commutes_with_relu(&self) -> bool {
        false
    }

    /// This module as a [`Sequential`](crate::Sequential), when it is one (to slice a named
    /// sub-model such as `features`).
    fn as_sequential(&self) -> Option<&crate::Sequential> {
        None
    }

    /// The states of the random-number generators the module draws from while training
    /// (dropout masks), by name (`rng` for a layer, `3.rng` inside a [`Sequential`](crate::Sequential)),
    /// so a checkpoint can save them and a resumed run draw the same numbers.
    fn named_rng_states(&self) -> Vec<(String, [u64; 4])> {
        Vec::new()
    }

    /// Restores a generator named as [`Module::named_rng_states`] names it; returns whether
    /// `name` named one.
    fn set_rng_state(&self, _name: &str, _state: [u64; 4]) -> bool {
        false
    }

    /// `named_parameters` followed by `named_buffers`: PyTorch's `state_dict()`.
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut all = self.named_parameters();
        all.extend(self.named_buffers());
        all
    }

    /// Parameters without their names.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// Parameters that currently require grad.
    fn trainable_parameters(&self) -> Vec<Tensor> {
        self.parameters().into_iter().filter(Tensor::requires_grad).collect()
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }
}

/// Sets `requires_grad` on every parameter of `module`.
pub fn set_requires_grad(module: &dyn Module, on: bool) {
    for p in module.parameters() {
        p.set_requires_grad(on).expect("parameters are leaves: they are created by layers, not by ops");
    }
}

/// A training-mode flag usable from `&self`.
#[derive(Debug, Default)]
pub(crate) struct ModeFlag(std::sync::atomic::AtomicBool);

impl ModeFlag {
    pub(crate) fn new(training: bool) -> Self {
        ModeFlag(std::sync::atomic::AtomicBool::new(training))
    }
    pub(crate) fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn set(&self, on: bool) {
        self.0.store(on, std::sync::atomic::Ordering::Relaxed)
    }
}
