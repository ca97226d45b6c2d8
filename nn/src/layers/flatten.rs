use crate::module::Module;
use graft_engine::{Result, Tensor};

/// Flattens every axis after the first: `[n, ...] → [n, Π...]` (PyTorch's `nn.Flatten()`).
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() <= 1 {
            return Ok(x.clone());
        }
        x.flatten(1, -1)
    }
    fn spec(&self) -> String {
        "flatten".into()
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(Flatten))
    }
}
