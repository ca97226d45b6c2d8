use crate::init::{fans, Init};
use crate::module::Module;
use graft_engine::{Conv2dOptions, Result, Rng, Tensor};

/// 2-D convolution with weight `[out, in, kh, kw]` and bias `[out]` (PyTorch's `nn.Conv2d`,
/// groups = 1, dilation = 1).
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: Conv2dOptions,
}

impl Conv2d {
    /// A square-kernel convolution with PyTorch's default initialisation.
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize, rng: &mut Rng) -> Self {
        let options = Conv2dOptions { stride: (stride, stride), padding: (padding, padding) };
        Conv2d::with_init([out_ch, in_ch, kernel, kernel], true, options, Init::TorchDefault, rng)
    }

    /// A convolution with weight `shape` `[out, in, kh, kw]` drawn by `init`; the bias (if any)
    /// follows the initialiser's convention ([`Init::bias_init`]).
    pub fn with_init(shape: [usize; 4], bias: bool, options: Conv2dOptions, init: Init, rng: &mut Rng) -> Self {
        let (fan_in, fan_out) = fans(&shape);
        let weight = init.sample(&shape, fan_in, fan_out, rng);
        let bias = bias.then(|| init.bias_init().sample(&[shape[0]], fan_in, fan_out, rng));
        Conv2d::from_tensors(weight, bias, options)
    }

    /// Wraps existing tensors (made trainable).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>, options: Conv2dOptions) -> Self {
        for t in std::iter::once(&weight).chain(bias.as_ref()) {
            t.set_requires_grad(true).expect("layer tensors are leaves");
        }
        Conv2d { weight, bias, options }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d_bias(&self.weight, self.bias.as_ref(), self.options)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        v.extend(self.bias.iter().map(|b| ("bias".to_string(), b.clone())));
        v
    }
    fn spec(&self) -> String {
        let s = self.weight.shape();
        let k = if s[2] == s[3] { s[2].to_string() } else { format!("{}x{}", s[2], s[3]) };
        let o = self.options;
        let mut spec = format!("conv2d({},{},{k}", s[1], s[0]);
        if o.stride != (1, 1) {
            spec += &format!(",stride={}", pair(o.stride));
        }
        if o.padding != (0, 0) {
            spec += &format!(",padding={}", pair(o.padding));
        }
        if self.bias.is_none() {
            spec += ",bias=false";
        }
        spec + ")"
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(Conv2d {
            weight: self.weight.deep_clone()?,
            bias: self.bias.as_ref().map(Tensor::deep_clone).transpose()?,
            options: self.options,
        }))
    }
}

/// `3` for `(3, 3)`, `3x1` otherwise.
pub(crate) fn pair((a, b): (usize, usize)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}x{b}")
    }
}
