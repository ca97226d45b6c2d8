//! The rayon CPU back end: plain functions over f32 slices.
//!
//! Work is split across threads only when it is large enough to pay for the hand-off
//! ([`PAR_MIN_ELEMS`]); below that everything runs on the caller's thread. A split never puts
//! the caller to sleep: it runs its own share and any share no worker has picked up yet
//! (`shares::run_shares`). The thread count follows rayon's global pool, so
//! `RAYON_NUM_THREADS` is honoured.
//!
//! SIMD kernels (the GEMM's micro-kernel, `exp`) are chosen once at run time for the widest
//! vector unit the CPU has; `GRAFT_MAX_CPU_ISA=avx2` (or `baseline`) caps that choice, so a
//! big machine can run and measure a smaller one's code path (see [`MAX_CPU_ISA_VAR`]).

mod attention;
mod axpby;
mod bce;
mod binary;
mod conv;
mod copy;
mod embedding_sum;
mod exp;
mod gather;
mod gemm;
mod l2_normalize;
mod layer_norm;
mod masked_mean;
mod matmul;
mod pool;
mod reduce;
pub(crate) mod shares;
mod simd;
mod softmax;
mod unary;

pub use attention::{attention, attention_backward, AttentionShape};
pub use axpby::{axpby, axpby_in_place};
pub use bce::{bce_with_logits, bce_with_logits_backward, bce_with_logits_backward_targets};
pub use binary::binary;
pub use conv::{
    col2im, conv2d_backward_input, conv2d_backward_weight, conv2d_forward, im2col, Conv2dGeometry, ConvActivation,
    ConvEpilogue,
};
pub use copy::{strided_add_into, strided_copy};
pub use embedding_sum::embedding_sum;
pub use gather::{gather_axis, index_add, index_select, scatter_add_axis};
pub use l2_normalize::{l2_normalize, l2_normalize_backward};
pub use layer_norm::{layer_norm, layer_norm_backward_bias, layer_norm_backward_input, layer_norm_backward_weight};
pub use masked_mean::{masked_mean, masked_mean_backward, MASKED_MEAN_MIN_COUNT};
pub use matmul::{matmul, matmul_bias, matmul_epilogue, Epilogue, MatmulSpec};
pub use pool::{avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, Pool2dGeometry};
pub use reduce::{arg_reduce, reduce};
pub use simd::MAX_CPU_ISA_VAR;
pub use softmax::{
    cross_entropy, cross_entropy_backward, log_softmax, log_softmax_backward, softmax, softmax_backward,
};
pub use unary::{erf, unary, unary_backward};

/// Below this many elements a kernel runs on the calling thread: elementwise work is
/// memory-bound, so a second thread gains far less than twice. Handing a share to a warm worker
/// costs next to nothing (see `shares`), so 32 Ki floats (a batch-256 × 128 activation) is
/// already worth splitting; much smaller shares no longer pay for the hand-off (see
/// BENCHMARKS.md).
pub const PAR_MIN_ELEMS: usize = 1 << 15;

/// Elements per parallel chunk for elementwise work.
pub(crate) const PAR_CHUNK: usize = 1 << 13;

/// Whether work of `size` units (elements, multiply-adds) is worth splitting across threads,
/// given the size from which a split pays. Never with a single-thread pool
/// (`RAYON_NUM_THREADS=1`).
pub(crate) fn worth_splitting(size: usize, min: usize) -> bool {
    rayon::current_num_threads() >= 2 && size >= min
}

/// Runs `f(i, chunk_i)` over `out` cut into consecutive chunks of `chunk` floats (the last may be
/// shorter), one share of chunks per thread (see [`shares::run_shares`]).
fn split_chunks(out: &mut [f32], chunk: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
    let count = out.len().div_ceil(chunk);
    let parts = shares::ranges(count, rayon::current_num_threads(), 1);
    let base = SyncPtr(out.as_mut_ptr());
    let len = out.len();
    shares::run_shares(parts.len(), &|p| {
        for i in parts[p].clone() {
            let start = i * chunk;
            let n = chunk.min(len - start);
            // SAFETY: chunk `i` is `start .. start + n` inside `out`, and each chunk index
            // belongs to exactly one share, so no two threads touch the same floats; `out` is
            // borrowed mutably for the whole call.
            let c = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), n) };
            f(i, c);
        }
    });
}

/// A raw pointer to an output that [`split_chunks`] hands out in disjoint pieces.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub(crate) *mut f32);

// SAFETY: only used where shares write disjoint pieces of one live buffer (`split_chunks`,
// max pooling's index output, one plane per piece).
unsafe impl Send for SyncPtr {}
// SAFETY: as above.
unsafe impl Sync for SyncPtr {}

impl SyncPtr {
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Runs `f(chunk_start, out_chunk)` over `out`, in parallel when `out` is large.
pub(crate) fn for_each_chunk(out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    if !worth_splitting(out.len(), PAR_MIN_ELEMS) {
        f(0, out);
    } else {
        split_chunks(out, PAR_CHUNK, &|i, chunk| f(i * PAR_CHUNK, chunk));
    }
}

/// Runs `f(row_index, row)` over `out` seen as rows of `row_len`, in parallel when `out` is large.
pub(crate) fn for_each_row(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    for_each_piece(out, row_len, worth_splitting(out.len(), PAR_MIN_ELEMS), &f);
}

/// Runs `f(i, piece_i)` over `out` cut into pieces of `len` floats (images, planes, batch
/// entries), split across threads when `parallel`.
pub(crate) fn for_each_piece(out: &mut [f32], len: usize, parallel: bool, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
    if len == 0 {
        return;
    }
    if parallel {
        split_chunks(out, len, f);
    } else {
        out.chunks_mut(len).enumerate().for_each(|(i, piece)| f(i, piece));
    }
}
