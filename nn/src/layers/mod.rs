//! The layers, one file per family. Weight layouts follow PyTorch.

mod activation;
mod batchnorm;
mod conv;
mod dropout;
pub(crate) mod embedding;
mod flatten;
mod layernorm;
mod linear;
mod pool;

pub use activation::{Gelu, LeakyRelu, Relu, Relu6, Sigmoid, Softmax, Tanh};
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layernorm::LayerNorm;
pub use linear::Linear;
pub use pool::{AvgPool2d, GlobalAvgPool, MaxPool2d};
