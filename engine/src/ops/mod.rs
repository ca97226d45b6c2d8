//! Every op of the engine, one file per family. Each file holds, together: the public method,
//! the dispatch to each back end's kernel, the backward rule (with its derivative in a comment)
//! and the op's tests.

mod binary;
mod conv;
mod gather;
mod matmul;
mod pool;
mod reduce;
mod shape;
mod softmax;
mod unary;

use crate::{stats, Storage};
use std::sync::Arc;

pub use conv::Conv2dOptions;
pub use pool::Pool2dOptions;

/// Runs a CPU kernel that fills a fresh buffer of `len` elements, counting one launch of `kind`.
pub(crate) fn cpu_kernel(kind: &'static str, flops: u64, len: usize, f: impl FnOnce(&mut [f32])) -> Storage {
    stats::record(kind, flops);
    let mut out = vec![0.0; len];
    f(&mut out);
    Storage::Cpu(Arc::new(out))
}
