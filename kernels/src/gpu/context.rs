//! The GPU context: adapter, device, queue, compiled pipelines (`pipeline.rs`), the buffer and
//! readback pools and the batch of recorded work not yet submitted (`batch.rs`).

use super::batch::{Batch, RING_BYTES};
use super::error::{GpuError, GpuResult};
use super::pipeline::{Pipeline, Shader};
use super::pool::{BufferPool, PoolStats};
use super::staging::StagingPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use wgpu::util::DeviceExt;

/// Threads per workgroup of the one-dimensional kernels (`WG` in `common.wgsl`).
pub(crate) const WG: u32 = 256;

/// One GPU device and everything the kernels need to use it.
///
/// Kernels record work into a command encoder held here (see `batch.rs`); the batch is
/// submitted when it is full, on [`GpuContext::flush`] / [`GpuContext::synchronize`], and
/// whenever data is read back ([`super::GpuBuffer::to_vec`]), which is the only call that waits
/// for the device.
pub struct GpuContext {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    pub(super) limits: wgpu::Limits,
    pub(super) pipelines: Mutex<HashMap<(&'static str, &'static str), Arc<Pipeline>>>,
    pool: Mutex<BufferPool>,
    staging: Mutex<StagingPool>,
    pub(super) batch: Mutex<Batch>,
    /// The uniform ring every dispatch's parameter block lives in (see `batch.rs`).
    pub(super) ring: wgpu::Buffer,
    uncaptured: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext").field("device", &self.describe()).finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GpuContext {
    /// Opens the best adapter the environment allows (`WGPU_BACKEND`, `WGPU_POWER_PREF`, ... are
    /// honoured) with the adapter's own limits.
    pub fn new() -> GpuResult<Arc<GpuContext>> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or(wgpu::PowerPreference::HighPerformance),
            ..Default::default()
        };
        let adapter = pollster::block_on(instance.request_adapter(&options))
            .map_err(|e| GpuError::NoAdapter(format!("{e} (set WGPU_BACKEND to choose a backend)")))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let desc =
            wgpu::DeviceDescriptor { label: Some("graft"), required_limits: limits.clone(), ..Default::default() };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| GpuError::DeviceRequest { device: describe(&info), cause: e.to_string() })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| lock(&sink).push(e.to_string())));
        let ring = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("graft uniforms"),
            size: RING_BYTES,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Arc::new(GpuContext {
            device,
            queue,
            info,
            limits,
            pipelines: Mutex::default(),
            pool: Mutex::default(),
            staging: Mutex::default(),
            batch: Mutex::default(),
            ring,
            uncaptured,
        }))
    }

    /// The process-wide context, opened on first use. A failure is remembered: later calls return
    /// the same error without probing again.
    pub fn shared() -> GpuResult<Arc<GpuContext>> {
        static SHARED: OnceLock<GpuResult<Arc<GpuContext>>> = OnceLock::new();
        SHARED.get_or_init(GpuContext::new).clone()
    }

    /// "name (backend, device type)", as used in errors.
    pub fn describe(&self) -> String {
        describe(&self.info)
    }

    /// The adapter's description.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The wgpu device, for callers that add their own work.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// Largest buffer, in bytes, that a kernel can bind.
    pub fn max_buffer_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Live and pooled bytes of the buffer pool.
    pub fn pool_stats(&self) -> PoolStats {
        lock(&self.pool).stats()
    }

    /// Releases every pooled (free) buffer, storage and readback, back to the device, and the
    /// cached bind groups that would otherwise keep them alive.
    pub fn trim_pool(&self) {
        lock(&self.batch).clear_bind_groups();
        lock(&self.pool).trim();
        lock(&self.staging).trim();
    }

    /// Submits the recorded work without waiting for it.
    pub fn flush(&self) -> GpuResult<()> {
        let mut batch = lock(&self.batch);
        self.flush_locked(&mut batch)
    }

    /// Submits the recorded work and blocks until the device has finished it.
    pub fn synchronize(&self) -> GpuResult<()> {
        self.flush()?;
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| self.backend(format!("waiting for the device: {e}")))
    }

    pub(crate) fn error(&self, op: &'static str, cause: impl Into<String>) -> GpuError {
        GpuError::Invalid { device: self.describe(), op, cause: cause.into() }
    }

    pub(crate) fn backend(&self, cause: impl Into<String>) -> GpuError {
        GpuError::Backend { device: self.describe(), cause: cause.into() }
    }

    /// A storage buffer of at least `bytes` bytes from the pool, and its size class.
    pub(crate) fn alloc_raw(&self, bytes: u64) -> GpuResult<(wgpu::Buffer, u64)> {
        let max_bytes = self.max_buffer_bytes();
        if bytes > max_bytes {
            return Err(GpuError::TooLarge { device: self.describe(), bytes, max_bytes });
        }
        let class = BufferPool::class_of(bytes, max_bytes);
        let mut pool = lock(&self.pool);
        if let Some(buf) = pool.take(class) {
            return Ok((buf, class));
        }
        let buf = self
            .scoped(|| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("graft"),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            // Out of memory: say how much was asked for, so the user knows what to shrink.
            .map_err(|e| self.backend(format!("allocating a buffer of {class} bytes failed: {e}")))?;
        pool.note_new(class);
        Ok((buf, class))
    }

    pub(crate) fn release_raw(&self, buf: wgpu::Buffer, class: u64) {
        lock(&self.pool).give_back(class, buf);
    }

    /// Runs `f` inside validation and out-of-memory error scopes; a captured error becomes a
    /// [`GpuError::Backend`].
    pub(crate) fn scoped<T>(&self, f: impl FnOnce() -> T) -> GpuResult<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        match v.or(o) {
            Some(e) => Err(self.backend(e.to_string())),
            None => Ok(out),
        }
    }

    /// A buffer of `COPY_SRC` bytes holding `data`, created mapped so no queue write is involved.
    pub(crate) fn staging_from(&self, data: &[u8]) -> GpuResult<wgpu::Buffer> {
        self.scoped(|| {
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("graft upload"),
                contents: data,
                usage: wgpu::BufferUsages::COPY_SRC,
            })
        })
    }

    /// Workgroup counts covering `groups` workgroups, spread over y and z when x would exceed the
    /// per-dimension limit. Kernels rebuild the linear group id from `num_workgroups`.
    pub(crate) fn grid(&self, op: &'static str, groups: u64) -> GpuResult<[u32; 3]> {
        let max = u64::from(self.limits.max_compute_workgroups_per_dimension.max(1));
        let x = groups.clamp(1, max);
        let rest = groups.div_ceil(x);
        let y = rest.clamp(1, max);
        let z = rest.div_ceil(y).max(1);
        if z > max {
            return Err(self.error(op, format!("{groups} workgroups exceed the dispatch limit")));
        }
        Ok([x as u32, y as u32, z as u32])
    }

    /// Records one dispatch of `entry` with the typed parameter struct `params` (a `#[repr(C)]`
    /// mirror of the kernel's WGSL struct at binding 0) and `buffers` at bindings 1, 2, ...
    pub(crate) fn dispatch_typed<P: bytemuck::Pod>(
        &self,
        shader: &Shader,
        entry: &'static str,
        params: &P,
        buffers: &[&wgpu::Buffer],
        grid: [u32; 3],
    ) -> GpuResult<()> {
        self.dispatch_bytes(shader, entry, bytemuck::bytes_of(params), buffers, grid)
    }

    pub(super) fn take_uncaptured(&self) -> GpuResult<()> {
        let mut errors = lock(&self.uncaptured);
        if errors.is_empty() {
            Ok(())
        } else {
            let all = errors.join("; ");
            errors.clear();
            Err(self.backend(all))
        }
    }

    /// Copies `bytes` bytes of `src` into a pooled mappable buffer and reads them back, waiting
    /// for the device. The only place that blocks on GPU work.
    pub(crate) fn read_back(&self, src: &wgpu::Buffer, bytes: u64) -> GpuResult<Vec<u8>> {
        let pooled = lock(&self.staging).take(bytes);
        let staging = match pooled {
            Some(buf) => buf,
            None => self.scoped(|| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("graft readback"),
                    size: StagingPool::size_for(bytes),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })?,
        };
        self.record(|enc| enc.copy_buffer_to_buffer(src, 0, &staging, 0, bytes))?;
        self.flush()?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| self.backend(format!("waiting for a readback: {e}")))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.backend(format!("mapping a readback buffer: {e}"))),
            Err(_) => return Err(self.backend("a readback was never completed")),
        }
        let data = staging
            .get_mapped_range(..bytes)
            .map_err(|e| self.backend(format!("reading a mapped buffer: {e}")))?
            .to_vec();
        staging.unmap();
        lock(&self.staging).give_back(staging);
        Ok(data)
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}
