use crate::module::Module;
use graft_engine::{Error, Result, Tensor};

/// Normalises the last axis to zero mean and unit (biased) variance, then scales and shifts
/// (PyTorch's `nn.LayerNorm(n)`; eps 1e-5 by default).
pub struct LayerNorm {
    pub eps: f32,
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNorm {
    pub fn new(features: usize, eps: f32) -> Self {
        LayerNorm {
            eps,
            weight: Tensor::ones(&[features]).requires_grad_(true).expect("fresh tensors are leaves"),
            bias: Tensor::zeros(&[features]).requires_grad_(true).expect("fresh tensors are leaves"),
        }
    }

    /// A copy with new tensors (same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> Result<Self> {
        Ok(LayerNorm { eps: self.eps, weight: self.weight.deep_clone()?, bias: self.bias.deep_clone()? })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = self.weight.numel();
        if x.rank() == 0 || x.shape()[x.rank() - 1] != n {
            return Err(Error::ShapeMismatch {
                op: "layer_norm",
                lhs: x.shape().to_vec(),
                rhs: vec![n],
                hint: format!("the last axis must have {n} features"),
            });
        }
        x.layer_norm(&self.weight, &self.bias, self.eps)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone()), ("bias".into(), self.bias.clone())]
    }
    fn spec(&self) -> String {
        if self.eps == 1e-5 {
            format!("layernorm({})", self.weight.numel())
        } else {
            format!("layernorm({},eps={})", self.weight.numel(), self.eps)
        }
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}
