//! Parameter-free elementwise layers.

use crate::module::Module;
use graft_engine::{ConvActivation, Result, Tensor};

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, $spec:literal, $method:ident) => {
        $(#[$doc])*
        pub struct $name;
        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                x.$method()
            }
            fn spec(&self) -> String {
                $spec.into()
            }
            fn clone_module(&self) -> Result<Box<dyn Module>> {
                Ok(Box::new($name))
            }
            fn is_relu(&self) -> bool {
                $spec == "relu"
            }
            fn as_conv_activation(&self) -> Option<ConvActivation> {
                match $spec {
                    "relu" => Some(ConvActivation::Relu),
                    "relu6" => Some(ConvActivation::Relu6),
                    _ => None,
                }
            }
        }
    };
}

activation!(
    /// `max(x, 0)`.
    Relu, "relu", relu
);
activation!(
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid, "sigmoid", sigmoid
);
activation!(
    /// Hyperbolic tangent.
    Tanh, "tanh", tanh
);
activation!(
    /// `min(max(x, 0), 6)`, MobileNet's activation (PyTorch's `nn.ReLU6`).
    Relu6, "relu6", relu6
);
activation!(
    /// GELU, exact erf form (PyTorch's default).
    Gelu, "gelu", gelu
);

/// `x` for `x > 0`, `slope · x` otherwise (PyTorch's default slope: 0.01).
pub struct LeakyRelu(pub f32);

impl Module for LeakyRelu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.leaky_relu(self.0)
    }
    fn spec(&self) -> String {
        format!("leakyrelu({})", self.0)
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(LeakyRelu(self.0)))
    }
}

/// Softmax along an axis (PyTorch's `nn.Softmax(dim)`).
pub struct Softmax(pub isize);

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.softmax(self.0)
    }
    fn spec(&self) -> String {
        format!("softmax({})", self.0)
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(Softmax(self.0)))
    }
}
