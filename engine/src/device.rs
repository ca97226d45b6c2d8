//! Where a tensor's data lives: the CPU, or (with the `gpu` feature) a wgpu device.
//!
//! ```
//! use graft_engine::{Device, Tensor};
//! # fn main() -> graft_engine::Result<()> {
//! // The GPU when one is usable, else the CPU (saying once, on stderr, why).
//! let device = Device::auto();
//! let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3])?.to_device(&device)?;
//! assert_eq!(x.relu()?.to_vec()?, vec![1.0, 0.0, 3.0]);
//! # Ok(()) }
//! ```

use crate::{Error, Result};
use std::fmt;

#[cfg(feature = "gpu")]
pub use gpu_device::GpuDevice;

/// A compute device. The CPU back end is always present; with the `gpu` feature a tensor can
/// also live on a GPU opened through wgpu ([`Device::gpu`]). Operands of one op must share a
/// device: mixing devices is refused with [`Error::DeviceMismatch`], never silently copied.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Device {
    /// Host memory; kernels run on the rayon thread pool.
    #[default]
    Cpu,
    /// A GPU. Two `Gpu` devices are equal when they are the same context.
    #[cfg(feature = "gpu")]
    Gpu(GpuDevice),
}

impl Device {
    /// The process-wide GPU, opened on first use with the environment's backend choice
    /// (`WGPU_BACKEND`, `WGPU_POWER_PREF`). Fails with [`Error::Device`] naming the cause when no
    /// adapter is usable, or when graft was built without the `gpu` feature. It never falls back
    /// to the CPU; use [`Device::auto`] for that.
    pub fn gpu() -> Result<Device> {
        #[cfg(feature = "gpu")]
        {
            let ctx = graft_kernels::gpu::GpuContext::shared()?;
            Ok(Device::Gpu(GpuDevice::new(ctx)))
        }
        #[cfg(not(feature = "gpu"))]
        {
            Err(Error::Device(
                "graft was built without the `gpu` feature, so no GPU can be used; rebuild with the feature \
                 enabled (it is on by default: drop `--no-default-features` or add `--features gpu`)"
                    .into(),
            ))
        }
    }

    /// The GPU when one is usable, otherwise the CPU. The first fallback in a process prints the
    /// reason to stderr once; later calls fall back silently.
    pub fn auto() -> Device {
        match Device::gpu() {
            Ok(device) => device,
            Err(e) => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| eprintln!("graft: using the CPU because the GPU is unavailable: {e}"));
                Device::Cpu
            }
        }
    }

    /// Parses a device name as given on a command line: `cpu`, `gpu` or `auto` (any case).
    /// `gpu` fails when no GPU is usable, as [`Device::gpu`]; `auto` falls back as
    /// [`Device::auto`].
    pub fn parse(name: &str) -> Result<Device> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "gpu" => Device::gpu(),
            "auto" => Ok(Device::auto()),
            _ => Err(Error::Device(format!("unknown device {name:?}: expected cpu, gpu or auto"))),
        }
    }

    /// Whether this is the CPU.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu)
    }

    /// Whether this is a GPU.
    pub fn is_gpu(&self) -> bool {
        !self.is_cpu()
    }

    /// Blocks until all work recorded on this device has finished (a no-op on the CPU, whose
    /// kernels finish before they return). For timing GPU work; results never need it.
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(feature = "gpu")]
            Device::Gpu(g) => Ok(g.context().synchronize()?),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            #[cfg(feature = "gpu")]
            Device::Gpu(g) => write!(f, "{g}"),
        }
    }
}

#[cfg(feature = "gpu")]
mod gpu_device {
    use graft_kernels::gpu::{GpuContext, PoolStats};
    use std::fmt;
    use std::sync::{Arc, Mutex};

    /// A GPU device: a handle to one [`GpuContext`] (adapter, queue, pipelines, buffer pool).
    /// Cloning shares the context; equality is identity of the context.
    #[derive(Clone)]
    pub struct GpuDevice {
        ctx: Arc<GpuContext>,
    }

    impl GpuDevice {
        /// Wraps a context, e.g. one opened with [`GpuContext::new`] to keep its buffer pool
        /// apart from the shared one.
        pub fn new(ctx: Arc<GpuContext>) -> GpuDevice {
            GpuDevice { ctx }
        }

        /// The context kernels run on.
        pub fn context(&self) -> &Arc<GpuContext> {
            &self.ctx
        }

        /// Live and pooled bytes of this device's buffer pool.
        pub fn pool_stats(&self) -> PoolStats {
            self.ctx.pool_stats()
        }

        /// The number of this context among those seen by the process (`gpu:0` is the first).
        pub fn ordinal(&self) -> usize {
            // Contexts live as long as any tensor on them, so addresses identify them well enough
            // for a display name; the registry only ever grows by the few contexts a process opens.
            static SEEN: Mutex<Vec<usize>> = Mutex::new(Vec::new());
            let addr = Arc::as_ptr(&self.ctx) as usize;
            let mut seen = SEEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match seen.iter().position(|&a| a == addr) {
                Some(i) => i,
                None => {
                    seen.push(addr);
                    seen.len() - 1
                }
            }
        }
    }

    impl PartialEq for GpuDevice {
        fn eq(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.ctx, &other.ctx)
        }
    }

    impl Eq for GpuDevice {}

    impl fmt::Display for GpuDevice {
        /// `gpu:0 (NVIDIA H200, Vulkan)`.
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let info = self.ctx.adapter_info();
            write!(f, "gpu:{} ({}, {:?})", self.ordinal(), info.name, info.backend)
        }
    }

    impl fmt::Debug for GpuDevice {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "GpuDevice({self})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Device;

    #[test]
    fn parse_knows_cpu_and_refuses_unknown_names() {
        assert_eq!(Device::parse("CPU").unwrap(), Device::Cpu);
        let msg = Device::parse("tpu").unwrap_err().to_string();
        assert!(msg.contains("\"tpu\"") && msg.contains("cpu, gpu or auto"), "{msg}");
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn without_the_feature_gpu_is_refused_and_auto_is_the_cpu() {
        let msg = Device::gpu().unwrap_err().to_string();
        assert!(msg.contains("without the `gpu` feature"), "{msg}");
        assert_eq!(Device::auto(), Device::Cpu);
        assert_eq!(Device::parse("auto").unwrap(), Device::Cpu);
    }
}
