//! Every op of the engine, one file per family. Each file holds, together: the public method,
//! the dispatch to each back end's kernel, the backward rule (with its derivative in a comment)
//! and the op's tests.

mod bce;
mod binary;
mod conv;
pub(crate) mod frozen_weights;
mod gather;
mod matmul;
mod pool;
mod reduce;
mod shape;
mod softmax;
mod unary;
mod update;

use crate::{stats, HostBuffer, Storage};
use std::sync::Arc;

#[cfg(feature = "gpu")]
use crate::{Error, Result, Tensor};
#[cfg(feature = "gpu")]
use graft_kernels::gpu::{GpuBuffer, GpuContext, GpuResult};

pub use conv::Conv2dOptions;
pub use pool::Pool2dOptions;

/// Runs a CPU kernel that fills a zeroed buffer of `len` elements (from the host pool),
/// counting one launch of `kind`. An empty result needs no work, so the kernel is not called for
/// one (several kernels split their output into per-image chunks, and a chunk of size 0 would
/// panic).
pub(crate) fn cpu_kernel(kind: &'static str, flops: u64, len: usize, f: impl FnOnce(&mut [f32])) -> Storage {
    run_cpu_kernel(kind, flops, HostBuffer::zeros(len), f)
}

/// [`cpu_kernel`] for kernels that write every output element without reading it first
/// (elementwise ops, softmax, copies, non-accumulating matmul): the buffer is not zeroed, which
/// saves a pass over memory.
pub(crate) fn cpu_kernel_overwrite(kind: &'static str, flops: u64, len: usize, f: impl FnOnce(&mut [f32])) -> Storage {
    run_cpu_kernel(kind, flops, HostBuffer::uninit_for_overwrite(len), f)
}

fn run_cpu_kernel(kind: &'static str, flops: u64, mut out: HostBuffer, f: impl FnOnce(&mut [f32])) -> Storage {
    stats::record(kind, flops);
    if !out.is_empty() {
        f(out.as_mut_slice());
    }
    Storage::Cpu(Arc::new(out))
}

/// Records a GPU kernel that makes a fresh buffer, counting one launch of `kind` exactly as
/// [`cpu_kernel`] does for the CPU twin.
#[cfg(feature = "gpu")]
pub(crate) fn gpu_kernel(kind: &'static str, flops: u64, f: impl FnOnce() -> GpuResult<GpuBuffer>) -> Result<Storage> {
    stats::record(kind, flops);
    Ok(Storage::Gpu(f()?))
}

/// The context of a GPU buffer (the one its kernels must run on).
#[cfg(feature = "gpu")]
pub(crate) fn ctx(b: &GpuBuffer) -> &Arc<GpuContext> {
    b.context()
}

/// The error for operands on different devices (the match arm no op reaches after its
/// `same_device` checks, kept so a missed check is an error rather than a panic).
#[cfg(feature = "gpu")]
pub(crate) fn mixed(op: &'static str, tensors: &[&Tensor]) -> Error {
    let first = tensors.first().map(|t| t.device()).unwrap_or_default();
    let other = tensors.iter().map(|t| t.device()).find(|d| *d != first).unwrap_or_default();
    Error::DeviceMismatch { op, lhs: first.to_string(), rhs: other.to_string() }
}
