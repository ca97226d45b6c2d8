//! Transposed copies of frozen weights, kept between calls.
//!
//! A linear layer multiplies by its weight read transposed (`x · Wᵀ`, W stored `[out, in]`), and
//! the GEMM has to repack W into column panels on every call. For a trainable W that is
//! unavoidable: it changes every step. A frozen W does not, and freezing is what transfer
//! learning does to most of a model, so its transposed copy is kept: W stored `[in, out]` is
//! read by the GEMM in place, panel by panel, with no packing at all.
//!
//! A copy is made the second time the same buffer is seen with the same contents, so data
//! that flows through once (a batch multiplied by something) is never copied. Contents are
//! identified by the buffer's address and [`HostBuffer::version`], which changes on every
//! write, so a weight updated in place (or unfrozen, trained and frozen again) is never served
//! stale. The copies hold the same values, and the GEMM performs the same multiply-adds in the
//! same order either way: results are bit-identical to the uncached product.

use crate::HostBuffer;
use graft_kernels::cpu;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

/// Bytes of transposed copies kept; past it the cache starts over.
const CAP_BYTES: usize = 256 << 20;

/// Addresses remembered; past it the cache starts over (data read transposed that is not a
/// weight leaves one small entry per buffer address it ever used).
const CAP_ENTRIES: usize = 4096;

/// What the cache knows about one buffer address.
struct Entry {
    version: u64,
    /// The transposed copy, once the same contents were seen twice.
    transposed: Option<Arc<HostBuffer>>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<usize, Entry>,
    bytes: usize,
}

fn cache() -> MutexGuard<'static, Cache> {
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
    // The cache's invariants hold between statements, so a panic elsewhere cannot break them.
    CACHE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `w` (`rows × cols`, row-major) transposed to `cols × rows`, if these contents were seen
/// before; `None` the first time (the caller then multiplies by `w` read transposed).
pub(crate) fn transposed(w: &Arc<HostBuffer>, rows: usize, cols: usize) -> Option<Arc<HostBuffer>> {
    let key = w.as_ptr() as usize;
    let version = w.version();
    {
        let mut c = cache();
        match c.entries.get(&key) {
            Some(e) if e.version == version && e.transposed.is_some() => return e.transposed.clone(),
            Some(e) if e.version == version => {}
            _ => {
                if c.entries.len() >= CAP_ENTRIES {
                    c.entries.clear();
                    c.bytes = 0;
                }
                if let Some(old) = c.entries.insert(key, Entry { version, transposed: None }) {
                    c.bytes -= old.transposed.map_or(0, |t| t.len() * 4);
                }
                return None;
            }
        }
    }
    // Seen before with these contents: make the copy (outside the lock).
    let mut t = HostBuffer::uninit_for_overwrite(w.len());
    cpu::strided_copy(w, 0, &[1, cols], &[cols, rows], t.as_mut_slice());
    let t = Arc::new(t);
    let mut c = cache();
    if c.bytes + t.len() * 4 > CAP_BYTES {
        c.entries.clear();
        c.bytes = 0;
    }
    c.bytes += t.len() * 4;
    if let Some(old) = c.entries.insert(key, Entry { version, transposed: Some(Arc::clone(&t)) }) {
        // Another thread may have made the same copy meanwhile.
        c.bytes -= old.transposed.map_or(0, |t| t.len() * 4);
    }
    Some(t)
}

/// Drops every kept copy (see [`crate::trim_host_pool`]).
pub(crate) fn clear() {
    let mut c = cache();
    c.entries.clear();
    c.bytes = 0;
}
