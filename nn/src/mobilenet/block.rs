//! MobileNetV2's inverted residual block.

use super::conv_bn_relu6;
use crate::layers::{BatchNorm, Conv2d};
use crate::module::Module;
use crate::{init::Init, Sequential};
use graft_engine::{Conv2dOptions, Result, Rng, Tensor};

/// torchvision's `InvertedResidual`: a 1×1 expansion to `expand · in` channels (left out when
/// `expand` is 1), a 3×3 depthwise convolution with the block's stride, a linear 1×1
/// projection to `out` channels, each followed by BatchNorm (the first two by ReLU6 too), and
/// the input added back when the block keeps the shape (stride 1, `in == out`).
///
/// Parameters are named as torchvision names them: `conv.0.0.weight` (expansion), `conv.1.1.running_mean`
/// (the depthwise BatchNorm), `conv.2.weight` (projection), …
pub struct InvertedResidual {
    pub conv: Sequential,
    pub residual: bool,
    shape: [usize; 4],
}

impl InvertedResidual {
    /// A block from `inp` to `out` channels with `stride` and expansion `expand`, drawn from `rng`.
    pub fn new(inp: usize, out: usize, stride: usize, expand: usize, rng: &mut Rng) -> Self {
        let hidden = inp * expand;
        let mut conv = Sequential::new();
        if expand != 1 {
            conv = conv.layer(conv_bn_relu6(inp, hidden, 1, 1, 1, rng));
        }
        let project = Conv2d::with_init([out, hidden, 1, 1], false, Conv2dOptions::default(), Init::KaimingNormal, rng);
        conv = conv
            .layer(conv_bn_relu6(hidden, hidden, 3, stride, hidden, rng))
            .layer(project)
            .layer(BatchNorm::new_2d(out));
        InvertedResidual { conv, residual: stride == 1 && inp == out, shape: [inp, out, stride, expand] }
    }
}

impl Module for InvertedResidual {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.forward(x)?;
        if self.residual {
            y.add(x)
        } else {
            Ok(y)
        }
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        prefixed(self.conv.named_parameters())
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        prefixed(self.conv.named_buffers())
    }
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        prefixed(self.conv.state_dict())
    }
    fn set_training(&self, training: bool) {
        self.conv.set_training(training)
    }
    fn is_training(&self) -> bool {
        self.conv.is_training()
    }
    fn spec(&self) -> String {
        let [inp, out, stride, expand] = self.shape;
        format!("inverted_residual({inp},{out},stride={stride},expand={expand})")
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(InvertedResidual { conv: self.conv.deep_clone()?, residual: self.residual, shape: self.shape }))
    }
    fn is_deterministic_in_eval(&self) -> bool {
        self.conv.is_deterministic_in_eval()
    }
}

fn prefixed(named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named.into_iter().map(|(n, t)| (format!("conv.{n}"), t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_named_and_shaped_as_torchvisions() {
        let mut rng = Rng::new(0);
        let first = InvertedResidual::new(32, 16, 1, 1, &mut rng);
        let names: Vec<String> = first.state_dict().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[0], "conv.0.0.weight");
        assert!(names.contains(&"conv.1.weight".to_string()) && names.contains(&"conv.2.running_var".to_string()));
        assert!(!first.residual);
        let block = InvertedResidual::new(24, 24, 1, 6, &mut rng);
        assert!(block.residual);
        let shapes: Vec<Vec<usize>> = block.named_parameters().iter().map(|(_, t)| t.shape().to_vec()).collect();
        assert_eq!(shapes[0], vec![144, 24, 1, 1]);
        assert_eq!(shapes[3], vec![144, 1, 3, 3], "the depthwise weight");
        let x = Tensor::randn(&[2, 24, 7, 7], 0.0, 1.0, &mut rng);
        assert_eq!(block.forward(&x).unwrap().shape(), &[2, 24, 7, 7]);
        let down = InvertedResidual::new(24, 32, 2, 6, &mut rng);
        assert_eq!(down.forward(&x).unwrap().shape(), &[2, 32, 4, 4]);
        assert_eq!(down.spec(), "inverted_residual(24,32,stride=2,expand=6)");
    }
}
