//! Host memory for CPU tensors, recycled through a pool.
//!
//! Kernels take their outputs from the pool; buffers wrapped around a caller's data are not
//! recycled.
//!
//! A training step of a fixed model asks for the same buffer sizes every step: activations,
//! gradients, the new parameter values. Freeing them to the allocator and asking again costs
//! fresh pages (a page fault and a zeroing pass per 4 KiB) every step, a real share of a small
//! model's step. So a [`HostBuffer`] of at least [`POOLED_MIN_LEN`] floats
//! and at most [`POOLED_MAX_LEN`] returns its memory to a pool keyed by exact length when dropped,
//! and the next request of that length takes it back: once warmed up, a step allocates no fresh
//! buffers of those sizes ([`host_pool_stats`] counts the fresh ones). Small buffers go straight
//! to the allocator, which serves them from its own caches; huge ones (whole weight matrices of
//! big models, datasets) are rare enough that holding them idle would cost more memory than
//! their allocation costs time — a model load, for one, must not keep the replaced initial
//! weights.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Buffers shorter than this (16 KiB) are not pooled.
pub const POOLED_MIN_LEN: usize = 4096;

/// Buffers longer than this (32 MiB: a BERT feed-forward activation at batch 32 × 128 tokens) are
/// not pooled.
pub const POOLED_MAX_LEN: usize = 1 << 23;

/// The pool keeps at most this many idle bytes; buffers freed beyond it go to the allocator.
const POOL_CAP_BYTES: usize = 256 << 20;

fn pooled(len: usize) -> bool {
    (POOLED_MIN_LEN..=POOLED_MAX_LEN).contains(&len)
}

/// An owned run of f32 on the host. Reads as a slice; its memory returns to the pool when the
/// last owner drops it.
#[derive(Debug, Default)]
pub struct HostBuffer {
    data: Vec<f32>,
    /// Made by the pool's constructors, so it goes back to the pool. A buffer wrapped around a
    /// caller's `Vec` (a data batch, a loaded tensor) is freed normally instead: recycling it
    /// would fill the pool with sizes no kernel asks for again.
    recycle: bool,
    /// Changes whenever the contents may change (creation, every `as_mut_slice`): with the
    /// buffer's address it identifies these exact values, for caches derived from them.
    version: u64,
}

/// Source of [`HostBuffer`] versions: every value is handed out once.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

impl HostBuffer {
    /// A buffer of `len` zeros.
    pub fn zeros(len: usize) -> HostBuffer {
        let (mut b, recycled) = HostBuffer::take(len);
        if recycled {
            b.data.fill(0.0);
        }
        b
    }

    /// A buffer of `len` floats whose values are unspecified (zeros, or a recycled buffer's old
    /// values): for kernels that write every element before anything reads it.
    pub fn uninit_for_overwrite(len: usize) -> HostBuffer {
        HostBuffer::take(len).0
    }

    /// A buffer of `len` floats from the pool when it has one (`true`: old values), else a
    /// fresh zeroed one.
    fn take(len: usize) -> (HostBuffer, bool) {
        if !pooled(len) {
            return (HostBuffer { data: vec![0.0; len], recycle: false, version: next_version() }, false);
        }
        let recycled = {
            let mut pool = pool();
            let data = pool.take(len);
            pool.fresh += u64::from(data.is_none());
            data
        };
        match recycled {
            Some(data) => (HostBuffer { data, recycle: true, version: next_version() }, true),
            None => (HostBuffer { data: vec![0.0; len], recycle: true, version: next_version() }, false),
        }
    }

    /// Number of floats.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the buffer holds no floats.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The floats, writable. The buffer's [`version`](HostBuffer::version) changes.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.version = next_version();
        &mut self.data
    }

    /// An identity for the current contents: two reads of the same buffer with the same version
    /// saw the same values.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl Clone for HostBuffer {
    fn clone(&self) -> Self {
        let mut b = HostBuffer::uninit_for_overwrite(self.len());
        b.as_mut_slice().copy_from_slice(self);
        b
    }
}

impl From<Vec<f32>> for HostBuffer {
    fn from(data: Vec<f32>) -> Self {
        HostBuffer { data, recycle: false, version: next_version() }
    }
}

impl std::ops::Deref for HostBuffer {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.data
    }
}

impl Drop for HostBuffer {
    fn drop(&mut self) {
        if self.recycle {
            pool().give(std::mem::take(&mut self.data));
        }
    }
}

/// What the host pool holds and how often it had to allocate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostPoolStats {
    /// Bytes of idle buffers waiting in the pool.
    pub pooled_bytes: usize,
    /// Requests for a pooled size (from [`POOLED_MIN_LEN`] to [`POOLED_MAX_LEN`] floats) the pool could not serve
    /// since the process started: each one was a fresh allocation.
    pub fresh_allocations: u64,
}

/// The host pool's current state. A training loop whose `fresh_allocations` stops growing after
/// the first steps reuses all its large buffers.
pub fn host_pool_stats() -> HostPoolStats {
    let p = pool();
    HostPoolStats { pooled_bytes: p.bytes, fresh_allocations: p.fresh }
}

/// Returns every idle pooled buffer to the allocator (for instance after training, before a
/// long phase that needs the memory elsewhere), and drops the transposed copies kept for frozen
/// weights.
pub fn trim_host_pool() {
    // The kept transposed copies of frozen weights hold pooled buffers too.
    crate::backend::frozen_weights::clear();
    let mut p = pool();
    p.free.clear();
    p.bytes = 0;
}

#[derive(Default)]
struct Pool {
    free: HashMap<usize, Vec<Vec<f32>>>,
    bytes: usize,
    fresh: u64,
}

impl Pool {
    fn take(&mut self, len: usize) -> Option<Vec<f32>> {
        let data = self.free.get_mut(&len)?.pop()?;
        self.bytes -= len * 4;
        Some(data)
    }

    fn give(&mut self, data: Vec<f32>) {
        let bytes = data.len() * 4;
        if self.bytes + bytes <= POOL_CAP_BYTES {
            self.bytes += bytes;
            self.free.entry(data.len()).or_default().push(data);
        }
    }
}

fn pool() -> MutexGuard<'static, Pool> {
    static POOL: LazyLock<Mutex<Pool>> = LazyLock::new(Mutex::default);
    // The pool's invariants hold between statements, so a panic elsewhere cannot break them.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_for_the_same_length_and_zeros_stay_zero() {
        // A length no other test uses, since tests share the pool.
        let len = POOLED_MIN_LEN + 12_345;
        let mut a = HostBuffer::uninit_for_overwrite(len);
        a.as_mut_slice().fill(3.0);
        let ptr = a.as_ptr();
        drop(a);
        let b = HostBuffer::zeros(len);
        assert_eq!(b.as_ptr(), ptr, "the freed buffer comes back");
        assert!(b.iter().all(|&v| v == 0.0), "zeros() clears a recycled buffer");
        let c = HostBuffer::uninit_for_overwrite(len);
        assert_ne!(c.as_ptr(), ptr, "a live buffer is never handed out twice");
        assert_eq!(&*HostBuffer::zeros(3), &[0.0; 3]);
    }
}
