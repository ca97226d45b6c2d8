//! graft's engine: [`Tensor`], [`Device`], define-by-run reverse-mode autodiff and op
//! statistics.
//!
//! Every op is a method on `Tensor` returning `Result<Tensor>`; an op on shapes that do not fit
//! returns an [`Error`] naming the op and both shapes. Ops record their backward rule only when
//! an input requires grad, so frozen parameters cost nothing in `backward()`.
//!
//! ```
//! use graft_engine::{Rng, Tensor};
//! # fn main() -> graft_engine::Result<()> {
//! let mut rng = Rng::new(0);
//! let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng);
//! let w = Tensor::randn(&[2, 3], 0.0, 0.1, &mut rng).requires_grad_(true)?;
//! let loss = x.matmul_t(&w, false, true)?.relu()?.mean_all()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().shape(), &[2, 3]);
//! # Ok(()) }
//! ```

mod autograd;
mod device;
mod error;
pub mod gradcheck;
mod ops;
mod rng;
mod stats;
mod storage;
mod tensor;

pub use autograd::{grad_enabled, no_grad, BackwardFn, NoGradGuard};
pub use device::Device;
pub use error::{Error, Result};
pub use graft_kernels::{BinaryOp, ReduceOp, UnaryOp};
pub use ops::{Conv2dOptions, Pool2dOptions};
pub use rng::Rng;
pub use stats::{op_stats, reset_op_stats, OpCount, OpStats};
pub use storage::Storage;
pub use tensor::Tensor;
