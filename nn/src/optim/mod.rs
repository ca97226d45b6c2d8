//! Optimisers.
//!
//! An optimiser is built over a list of parameters and, on every [`Optimizer::step`], updates
//! only those that **currently** require grad and have a gradient; frozen parameters are
//! skipped entirely. The learning rate can be changed between steps ([`Optimizer::set_lr`]),
//! which is how training phases lower it.
//!
//! **State when the trainable set changes** (PyTorch's rule): per-parameter state (momentum
//! buffers, Adam moments and step counts) is kept by parameter. While a parameter is frozen its
//! state is neither used nor decayed; when it is unfrozen it resumes from the state it had. A
//! parameter trained for the first time starts from fresh state. To start a phase from scratch,
//! build a new optimiser (what Keras does on `compile()`), or call [`Optimizer::reset_state`].

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use graft_engine::{Result, Tensor};

/// Updates parameters from their gradients.
pub trait Optimizer: Send {
    /// Applies one update to every parameter that requires grad and has a gradient.
    fn step(&mut self) -> Result<()>;
    /// Clears the gradients of every parameter.
    fn zero_grad(&self) {
        self.parameters().iter().for_each(Tensor::zero_grad)
    }
    fn lr(&self) -> f32;
    fn set_lr(&mut self, lr: f32);
    /// The parameters this optimiser was built over.
    fn parameters(&self) -> &[Tensor];
    /// Forgets all per-parameter state (momentum, moments, step counts).
    fn reset_state(&mut self);
}
