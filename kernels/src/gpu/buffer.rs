//! `GpuBuffer`: an f32 array in device memory, returned to the context's pool when dropped.

use super::context::GpuContext;
use super::error::GpuResult;
use std::sync::Arc;

struct Inner {
    ctx: Arc<GpuContext>,
    /// `None` only while being dropped.
    buf: Option<wgpu::Buffer>,
    class: u64,
    len: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.ctx.release_raw(buf, self.class);
        }
    }
}

/// An f32 buffer on the GPU. Cloning shares the buffer; the memory goes back to the context's
/// pool when the last clone is dropped. Kernels that write "into" a buffer (`*_into`, `index_add`,
/// ...) change what every clone sees.
#[derive(Clone)]
pub struct GpuBuffer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GpuBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBuffer").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl GpuBuffer {
    /// An uninitialised buffer of `len` f32 (its contents are whatever the pool held). Kernels
    /// use it for outputs they overwrite entirely.
    pub fn uninit(ctx: &Arc<GpuContext>, len: usize) -> GpuResult<GpuBuffer> {
        let bytes = (len as u64).max(1) * 4;
        let (buf, class) = ctx.alloc_raw(bytes)?;
        Ok(GpuBuffer { inner: Arc::new(Inner { ctx: Arc::clone(ctx), buf: Some(buf), class, len }) })
    }

    /// Uploads `data`. The copy is recorded in the context's batch, ordered after earlier work.
    pub fn from_slice(ctx: &Arc<GpuContext>, data: &[f32]) -> GpuResult<GpuBuffer> {
        let out = GpuBuffer::uninit(ctx, data.len())?;
        out.write_bytes(bytemuck::cast_slice(data))?;
        Ok(out)
    }

    /// Records a copy of `bytes` into the start of the buffer, ordered after earlier work (a
    /// mapped staging buffer and an encoder copy, never a queue write that would jump the batch).
    fn write_bytes(&self, bytes: &[u8]) -> GpuResult<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let ctx = self.context();
        let staging = ctx.staging_from(bytes)?;
        let size = bytes.len() as u64;
        ctx.record(|enc| enc.copy_buffer_to_buffer(&staging, 0, self.raw(), 0, size))
    }

    /// Uploads 32-bit indices (kernels read the buffer as `array<u32>`; `len` counts them).
    pub(crate) fn from_u32(ctx: &Arc<GpuContext>, data: &[u32]) -> GpuResult<GpuBuffer> {
        let out = GpuBuffer::uninit(ctx, data.len())?;
        out.write_bytes(bytemuck::cast_slice(data))?;
        Ok(out)
    }

    /// `len` zeros.
    pub fn zeros(ctx: &Arc<GpuContext>, len: usize) -> GpuResult<GpuBuffer> {
        let out = GpuBuffer::uninit(ctx, len)?;
        ctx.record(|enc| enc.clear_buffer(out.raw(), 0, None))?;
        Ok(out)
    }

    /// Number of f32 elements.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// The context the buffer lives on.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.inner.ctx
    }

    /// Whether `self` and `other` share one device buffer.
    pub fn same_buffer(&self, other: &GpuBuffer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Submits pending work, waits for it and copies the data to the host. This is the only call
    /// of the GPU back end that reads back.
    pub fn to_vec(&self) -> GpuResult<Vec<f32>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = self.inner.ctx.read_back(self.raw(), self.len() as u64 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The wgpu buffer (larger than `len * 4` bytes: it is a pool size class).
    pub fn raw(&self) -> &wgpu::Buffer {
        self.inner.buf.as_ref().expect("invariant: a live GpuBuffer holds its buffer")
    }
}
