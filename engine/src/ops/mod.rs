//! Every op of the engine, one file per family. Each file holds, together: the public method,
//! its shape checks, one call into the back-end seam (`crate::backend`: methods on
//! [`crate::Storage`] that dispatch to the operands' back end), the backward rule (with its
//! derivative in a comment) and the op's tests. No op file names a device.

mod attention;
mod bce;
mod binary;
mod conv;
mod gather;
mod layer_norm;
mod matmul;
mod pool;
mod reduce;
mod sentence;
mod shape;
mod softmax;
mod unary;
mod update;

pub use conv::{Conv2dEpilogue, Conv2dOptions, ConvActivation};
pub use pool::Pool2dOptions;
