//! Mappable readback buffers kept between readbacks, so a training loop that reports its loss
//! every step does not create and destroy a buffer each time.

/// Smallest readback buffer: a loss or a handful of metrics share one.
const MIN_BYTES: u64 = 4096;

/// Free buffers kept; a readback past them creates a buffer that is dropped afterwards.
const MAX_KEPT: usize = 8;

/// Free `MAP_READ | COPY_DST` buffers, sized in powers of two.
#[derive(Default)]
pub(crate) struct StagingPool {
    free: Vec<wgpu::Buffer>,
}

impl StagingPool {
    /// The size to create for a readback of `bytes`.
    pub(crate) fn size_for(bytes: u64) -> u64 {
        bytes.max(MIN_BYTES).next_power_of_two()
    }

    /// The smallest free buffer of at least `bytes` bytes, if any.
    pub(crate) fn take(&mut self, bytes: u64) -> Option<wgpu::Buffer> {
        let best =
            (0..self.free.len()).filter(|&i| self.free[i].size() >= bytes).min_by_key(|&i| self.free[i].size())?;
        Some(self.free.swap_remove(best))
    }

    /// Keeps an unmapped buffer for reuse, dropping the smallest when more than `MAX_KEPT` are free.
    pub(crate) fn give_back(&mut self, buf: wgpu::Buffer) {
        self.free.push(buf);
        if self.free.len() > MAX_KEPT {
            let smallest = (0..self.free.len()).min_by_key(|&i| self.free[i].size()).unwrap_or(0);
            self.free.swap_remove(smallest);
        }
    }

    /// Drops every free buffer.
    pub(crate) fn trim(&mut self) {
        self.free.clear();
    }
}
