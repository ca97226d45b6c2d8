//! The wgpu back end: the same primitive ops as [`crate::cpu`], as WGSL compute shaders.
//!
//! A [`GpuContext`] owns the device, a pipeline cache (each shader compiles once per process) and
//! a buffer pool. Kernels take and return [`GpuBuffer`]s and only *record* work: dispatches are
//! submitted in batches, and nothing waits for the device until [`GpuBuffer::to_vec`] reads data
//! back. Every kernel mirrors its CPU twin's signature and results (see each function for the
//! rounding it may differ by); where the CPU writes into a `&mut [f32]` that it also reads
//! (`strided_add_into`, `index_add`, `scatter_add_axis`, accumulating matmul) the GPU function
//! writes into a `&GpuBuffer` in place. Scatters run one thread per destination element, looping
//! over its sources in the CPU's order, so results are deterministic without float atomics.
//!
//! Sizes are checked before anything reaches wgpu: a buffer past the device's storage-binding
//! limit or an argument of the wrong length is a [`GpuError`]. wgpu validation errors are
//! returned as errors too: those of pipeline creation, allocation and submission from error
//! scopes around them, those of recording a dispatch (which has no scope of its own, to keep it
//! cheap) from the uncaptured-error handler at the next flush.

mod attention;
mod batch;
mod bce;
mod binary;
mod buffer;
mod context;
mod conv;
mod copy;
mod error;
mod gather;
mod launch;
mod layer_norm;
mod matmul;
mod matmul_codegen;
mod matmul_plan;
mod pipeline;
mod pool;
mod pool2d;
mod reduce;
mod sequence;
mod softmax;
mod staging;
mod unary;

#[cfg(test)]
mod tests;

pub use attention::{attention, attention_backward};
pub use bce::{bce_with_logits, bce_with_logits_backward, bce_with_logits_backward_targets};
pub use binary::binary;
pub use buffer::GpuBuffer;
pub use context::GpuContext;
pub use conv::{col2im, conv2d_backward_input, conv2d_backward_weight, conv2d_forward, im2col};
pub use copy::{fill, strided_add_into, strided_copy};
pub use error::{GpuError, GpuResult};
pub use gather::{gather_axis, index_add, index_select, scatter_add_axis};
pub use layer_norm::{layer_norm, layer_norm_backward_input, layer_norm_backward_params};
pub use matmul::{matmul, matmul_into};
pub use pool::PoolStats;
pub use pool2d::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward};
pub use reduce::{arg_reduce, reduce};
pub use sequence::{embedding_sum, l2_normalize, l2_normalize_backward, masked_mean, masked_mean_backward};
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};
pub use unary::{unary, unary_backward};
