//! The device-shaped seam under a tensor: its data on one back end.

use crate::{Device, HostBuffer, Result};
use std::sync::Arc;

#[cfg(feature = "gpu")]
use graft_kernels::gpu::{self, GpuBuffer};

/// A tensor's elements on one device. Cloning shares the buffer.
#[derive(Clone, Debug)]
pub enum Storage {
    /// Host memory (recycled through the host pool, see [`HostBuffer`]).
    Cpu(Arc<HostBuffer>),
    /// A buffer on a GPU; it returns to its context's pool when the last clone is dropped.
    #[cfg(feature = "gpu")]
    Gpu(GpuBuffer),
}

impl Storage {
    /// Host storage owning `data`.
    pub fn cpu(data: Vec<f32>) -> Storage {
        Storage::Cpu(Arc::new(HostBuffer::from(data)))
    }

    /// The device holding the elements.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "gpu")]
            Storage::Gpu(b) => Device::Gpu(crate::device::GpuDevice::new(Arc::clone(b.context()))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
            #[cfg(feature = "gpu")]
            Storage::Gpu(b) => b.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the elements to host memory. On a GPU this submits the pending work and waits for
    /// it: it is the one place data is read back.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        match self {
            Storage::Cpu(v) => Ok(v.to_vec()),
            #[cfg(feature = "gpu")]
            Storage::Gpu(b) => Ok(b.to_vec()?),
        }
    }

    /// A new buffer on `device` holding `data` (an upload for a GPU).
    pub fn from_vec(data: Vec<f32>, device: &Device) -> Result<Storage> {
        match device {
            Device::Cpu => Ok(Storage::cpu(data)),
            #[cfg(feature = "gpu")]
            Device::Gpu(g) => Ok(Storage::Gpu(GpuBuffer::from_slice(g.context(), &data)?)),
        }
    }

    /// A buffer of `len` copies of `value` on `device` (filled on the device: nothing is
    /// uploaded).
    pub fn full(len: usize, value: f32, device: &Device) -> Result<Storage> {
        match device {
            Device::Cpu => {
                let mut b = HostBuffer::uninit_for_overwrite(len);
                b.as_mut_slice().fill(value);
                Ok(Storage::Cpu(Arc::new(b)))
            }
            #[cfg(feature = "gpu")]
            Device::Gpu(g) => Ok(Storage::Gpu(gpu::fill(g.context(), len, value)?)),
        }
    }

    /// An independent copy on the same device (a device-side copy for a GPU, no readback).
    pub fn deep_copy(&self) -> Result<Storage> {
        match self {
            Storage::Cpu(v) => Ok(Storage::Cpu(Arc::new(v.as_ref().clone()))),
            #[cfg(feature = "gpu")]
            Storage::Gpu(b) => Ok(Storage::Gpu(gpu::strided_copy(b.context(), b, 0, &[1], &[b.len()])?)),
        }
    }
}
