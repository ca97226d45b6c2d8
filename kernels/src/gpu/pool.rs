//! A free list of storage buffers by size class, so a training loop reuses memory instead of
//! allocating each step.

use std::collections::HashMap;

/// Smallest size class in bytes.
const MIN_CLASS: u64 = 256;

/// Live and pooled bytes of a [`super::GpuContext`]'s buffer pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes held by live [`super::GpuBuffer`]s (counted by size class, not requested length).
    pub live_bytes: u64,
    /// Bytes of freed buffers kept for reuse.
    pub pooled_bytes: u64,
    /// Buffers created from the device so far (a reused buffer is not counted again).
    pub allocations: u64,
}

/// Freed buffers by size class. Classes are powers of two, except above `max_bytes / 2` where the
/// buffer is sized exactly so the binding limit is never overshot by rounding.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
}

impl BufferPool {
    /// The size class for `bytes`, given the device's largest bindable buffer.
    pub(crate) fn class_of(bytes: u64, max_bytes: u64) -> u64 {
        let class = bytes.max(MIN_CLASS).next_power_of_two();
        if class > max_bytes {
            bytes.div_ceil(4) * 4
        } else {
            class
        }
    }

    /// A pooled buffer of `class` bytes, if one is free.
    pub(crate) fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        let buf = self.free.get_mut(&class)?.pop()?;
        self.stats.pooled_bytes -= class;
        self.stats.live_bytes += class;
        Some(buf)
    }

    /// Records a buffer freshly created from the device.
    pub(crate) fn note_new(&mut self, class: u64) {
        self.stats.live_bytes += class;
        self.stats.allocations += 1;
    }

    /// Returns a buffer of `class` bytes to the pool.
    pub(crate) fn give_back(&mut self, class: u64, buf: wgpu::Buffer) {
        self.stats.live_bytes -= class;
        self.stats.pooled_bytes += class;
        self.free.entry(class).or_default().push(buf);
    }

    /// Frees every pooled buffer.
    pub(crate) fn trim(&mut self) {
        self.free.clear();
        self.stats.pooled_bytes = 0;
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two_within_the_limit() {
        assert_eq!(BufferPool::class_of(4, 1 << 20), 256);
        assert_eq!(BufferPool::class_of(257, 1 << 20), 512);
        assert_eq!(BufferPool::class_of(1 << 20, 1 << 20), 1 << 20);
        // Rounding up would exceed the limit: exact (4-aligned) size instead.
        assert_eq!(BufferPool::class_of(600_001, 1_000_000), 600_004);
    }
}
