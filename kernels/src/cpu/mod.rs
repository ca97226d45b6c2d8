//! The rayon CPU back end: plain functions over f32 slices.
//!
//! Work is split across threads only when it is large enough to pay for the hand-off
//! ([`PAR_MIN_ELEMS`]); below that everything runs on the caller's thread. The thread count
//! follows rayon's global pool, so `RAYON_NUM_THREADS` is honoured.

mod axpby;
mod binary;
mod conv;
mod copy;
mod gather;
mod gemm;
mod matmul;
mod pool;
mod reduce;
mod softmax;
mod unary;

pub use axpby::{axpby, axpby_in_place};
pub use binary::binary;
pub use conv::{col2im, conv2d_backward_input, conv2d_backward_weight, conv2d_forward, im2col, Conv2dGeometry};
pub use copy::{strided_add_into, strided_copy};
pub use gather::{gather_axis, index_add, index_select, scatter_add_axis};
pub use matmul::{matmul, MatmulSpec};
pub use pool::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, Pool2dGeometry};
pub use reduce::{arg_reduce, reduce};
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};
pub use unary::{erf, unary, unary_backward};

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_MIN_ELEMS: usize = 1 << 15;

/// Elements per parallel chunk for elementwise work.
pub(crate) const PAR_CHUNK: usize = 1 << 13;

/// Runs `f(chunk_start, out_chunk)` over `out`, in parallel when `out` is large.
pub(crate) fn for_each_chunk(out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    if out.len() < PAR_MIN_ELEMS {
        f(0, out);
    } else {
        out.par_chunks_mut(PAR_CHUNK).enumerate().for_each(|(i, chunk)| f(i * PAR_CHUNK, chunk));
    }
}

/// Runs `f(row_index, row)` over `out` seen as rows of `row_len`, in parallel when `out` is large.
pub(crate) fn for_each_row(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    if row_len == 0 {
        return;
    }
    if out.len() < PAR_MIN_ELEMS {
        out.chunks_mut(row_len).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        out.par_chunks_mut(row_len).enumerate().for_each(|(i, r)| f(i, r));
    }
}
