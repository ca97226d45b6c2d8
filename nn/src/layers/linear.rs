use crate::init::Init;
use crate::module::Module;
use graft_engine::{Error, Result, Rng, Tensor};

/// `y = x · Wᵀ + b` with `W` laid out `[out, in]` (PyTorch's `nn.Linear`). Works on any input
/// whose last axis has `in` features.
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A layer with PyTorch's default initialisation.
    pub fn new(in_features: usize, out_features: usize, rng: &mut Rng) -> Self {
        Linear::with_init(in_features, out_features, true, Init::TorchDefault, rng)
    }

    /// A layer with a chosen initialiser; the bias (if any) follows the initialiser's convention
    /// ([`Init::bias_init`]: zeros for Keras names, PyTorch's default otherwise).
    ///
    /// ```
    /// use graft_engine::Rng;
    /// use graft_nn::{init::Init, layers::Linear};
    /// let dense = Linear::with_init(784, 100, true, Init::HeNormal, &mut Rng::new(0));
    /// assert!(dense.bias.unwrap().to_vec()?.iter().all(|&b| b == 0.0)); // as Keras' Dense
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn with_init(in_features: usize, out_features: usize, bias: bool, init: Init, rng: &mut Rng) -> Self {
        let weight = init.sample(&[out_features, in_features], in_features, out_features, rng);
        let bias = bias.then(|| init.bias_init().sample(&[out_features], in_features, out_features, rng));
        Linear::from_tensors(weight, bias)
    }

    /// A copy with new tensors (same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> Result<Self> {
        let bias = self.bias.as_ref().map(Tensor::deep_clone).transpose()?;
        Ok(Linear { weight: self.weight.deep_clone()?, bias })
    }

    /// Wraps existing tensors (made trainable).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Self {
        for t in std::iter::once(&weight).chain(bias.as_ref()) {
            t.set_requires_grad(true).expect("layer tensors are leaves");
        }
        Linear { weight, bias }
    }

    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Linear {
    /// The input-shape check both forward forms share.
    fn check_input(&self, x: &Tensor) -> Result<()> {
        if x.rank() == 0 || x.shape()[x.rank() - 1] != self.in_features() {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: x.shape().to_vec(),
                rhs: self.weight.shape().to_vec(),
                hint: format!("the layer expects {} input features on the last axis", self.in_features()),
            });
        }
        Ok(())
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        x.linear(&self.weight, self.bias.as_ref())
    }
    /// The bias and the ReLU both applied inside the matrix product (see
    /// [`Tensor::linear_relu`]).
    fn forward_then_relu(&self, x: &Tensor) -> Option<Result<Tensor>> {
        Some(self.check_input(x).and_then(|()| x.linear_relu(&self.weight, self.bias.as_ref())))
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }
    fn spec(&self) -> String {
        let bias = if self.bias.is_some() { "" } else { ",bias=false" };
        format!("linear({},{}{bias})", self.in_features(), self.out_features())
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}
