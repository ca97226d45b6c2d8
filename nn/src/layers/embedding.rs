use crate::module::Module;
use graft_engine::{Error, Result, Rng, Tensor};

/// A lookup table `[num_embeddings, dim]`: integer indices (held in an f32 tensor) of any
/// shape map to rows, giving `shape + [dim]` (PyTorch's `nn.Embedding`, N(0, 1) init).
pub struct Embedding {
    pub weight: Tensor,
}

impl Embedding {
    pub fn new(num_embeddings: usize, dim: usize, rng: &mut Rng) -> Self {
        Embedding {
            weight: Tensor::randn(&[num_embeddings, dim], 0.0, 1.0, rng)
                .requires_grad_(true)
                .expect("fresh tensors are leaves"),
        }
    }
}

/// The values of `x` (indices held in f32) as row numbers of a table of `rows` rows; a value
/// that is not a whole number in `0..rows` is refused, naming it as a `what` of `op`.
pub(crate) fn row_indices(op: &'static str, what: &str, x: &Tensor, rows: usize) -> Result<Vec<usize>> {
    x.to_vec()?
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && (v as usize) < rows {
                Ok(v as usize)
            } else {
                Err(Error::BadShape {
                    op,
                    shape: x.shape().to_vec(),
                    reason: format!("{what} {v} is not an integer in 0..{rows}"),
                })
            }
        })
        .collect()
}

impl Module for Embedding {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let idx = row_indices("embedding", "index", x, self.weight.shape()[0])?;
        let mut shape = x.shape().to_vec();
        shape.push(self.weight.shape()[1]);
        self.weight.index_select(0, &idx)?.reshape(&shape)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }
    fn spec(&self) -> String {
        format!("embedding({},{})", self.weight.shape()[0], self.weight.shape()[1])
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(Embedding { weight: self.weight.deep_clone()? }))
    }
}
