//! graft's engine: [`Tensor`], [`Device`], define-by-run reverse-mode autodiff and op
//! statistics.
//!
//! Every op is a method on `Tensor` returning `Result<Tensor>`; an op on shapes that do not fit
//! returns an [`Error`] naming the op and both shapes. Ops record their backward rule only when
//! an input requires grad, so frozen parameters cost nothing in `backward()`.
//!
//! With the `gpu` feature every op also runs on `Device::Gpu` tensors (WGSL kernels through
//! wgpu), autodiff included; move data with [`Tensor::to_device`]. GPU work is recorded and
//! submitted in batches; only [`Tensor::to_vec`] / [`Tensor::to_scalar`] (and moving a tensor
//! off the GPU) wait for it and read data back.
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
mod backend;
mod device;
mod error;
pub mod gradcheck;
mod host_buffer;
mod ops;
mod rng;
mod stats;
mod storage;
mod tensor;

pub use autograd::{grad_enabled, no_grad, BackwardFn, NoGradGuard};
pub use device::Device;
#[cfg(feature = "gpu")]
pub use device::GpuDevice;
pub use error::{Error, Result};
/// The GPU back end's context and pool statistics, for [`GpuDevice::new`] and [`gpu_pool_stats`].
#[cfg(feature = "gpu")]
pub use graft_kernels::gpu::{GpuContext, PoolStats};
pub use graft_kernels::{BinaryOp, ReduceOp, UnaryOp};
pub use host_buffer::{host_pool_stats, trim_host_pool, HostBuffer, HostPoolStats, POOLED_MAX_LEN, POOLED_MIN_LEN};
pub use ops::{Conv2dEpilogue, Conv2dOptions, ConvActivation, Pool2dOptions};
pub use rng::Rng;
pub use stats::{op_stats, reset_op_stats, OpCount, OpStats};
pub use storage::Storage;
pub use tensor::Tensor;

/// Live and pooled bytes of a GPU device's buffer pool (`None` for the CPU, which has no pool).
/// A training loop whose `live_bytes` stops growing after the first steps does not leak.
#[cfg(feature = "gpu")]
pub fn gpu_pool_stats(device: &Device) -> Option<PoolStats> {
    match device {
        Device::Cpu => None,
        Device::Gpu(g) => Some(g.pool_stats()),
    }
}
