use crate::init::{fans, Init};
use crate::layers::BatchNorm;
use crate::module::Module;
use graft_engine::{Conv2dEpilogue, Conv2dOptions, ConvActivation, Result, Rng, Tensor};

/// 2-D convolution with weight `[out, in/groups, kh, kw]` and bias `[out]` (PyTorch's
/// `nn.Conv2d`, dilation = 1); `options.groups` cuts the channels into groups (`groups = in` is a
/// depthwise convolution).
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub options: Conv2dOptions,
}

impl Conv2d {
    /// A square-kernel convolution with PyTorch's default initialisation.
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize, rng: &mut Rng) -> Self {
        let options = Conv2dOptions::square(stride, padding);
        Conv2d::with_init([out_ch, in_ch, kernel, kernel], true, options, Init::TorchDefault, rng)
    }

    /// A convolution with weight `shape` `[out, in/groups, kh, kw]` drawn by `init`; the bias (if
    /// any) follows the initialiser's convention ([`Init::bias_init`]). The fans come from the
    /// weight's shape, so a grouped layer's fan-in is `in/groups · kh · kw`, as in PyTorch.
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
    /// The convolution with `bn`'s running statistics and `act` in its epilogue; the own bias,
    /// if any, is folded into the shift (`bias · scale + shift`), keeping its gradient.
    fn forward_then_batch_norm(&self, x: &Tensor, bn: &BatchNorm, act: ConvActivation) -> Option<Result<Tensor>> {
        let fused = || -> Result<Option<Tensor>> {
            let out_channels = self.weight.shape()[0];
            let Some((scale, shift)) = bn.frozen_affine()?.filter(|(scale, _)| scale.shape() == [out_channels]) else {
                return Ok(None);
            };
            let shift = match &self.bias {
                Some(b) => b.mul(&scale)?.add(&shift)?,
                None => shift,
            };
            let epi = Conv2dEpilogue { bias: Some(&shift), scale: Some(&scale), act };
            x.conv2d_fused(&self.weight, epi, self.options).map(Some)
        };
        fused().transpose()
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
        let mut spec = format!("conv2d({},{},{k}", s[1] * o.groups, s[0]);
        if o.stride != (1, 1) {
            spec += &format!(",stride={}", pair(o.stride));
        }
        if o.padding != (0, 0) {
            spec += &format!(",padding={}", pair(o.padding));
        }
        if o.groups != 1 {
            spec += &format!(",groups={}", o.groups);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_depthwise_layer_draws_from_its_group_fan_in_and_names_its_groups() {
        let options = Conv2dOptions::square(2, 1).with_groups(32);
        let conv = Conv2d::with_init([32, 1, 3, 3], false, options, Init::TorchDefault, &mut Rng::new(3));
        // PyTorch's bound is 1/√fan_in with fan_in = (in/groups)·kh·kw = 9, not 32·9.
        let w = conv.weight.to_vec().unwrap();
        assert!(w.iter().all(|v| v.abs() <= 1.0 / 3.0));
        assert!(w.iter().any(|v| v.abs() > 1.0 / (32.0f32 * 9.0).sqrt()));
        assert_eq!(conv.spec(), "conv2d(32,32,3,stride=2,padding=1,groups=32,bias=false)");
        let y = conv.forward(&Tensor::zeros(&[2, 32, 9, 9])).unwrap();
        assert_eq!(y.shape(), [2, 32, 5, 5]);
    }
}
