//! The device-shaped seam under a tensor: its data on one back end.

use crate::{Device, Result};
use std::sync::Arc;

/// A tensor's elements on one device. Cloning shares the buffer.
#[derive(Clone, Debug)]
pub enum Storage {
    Cpu(Arc<Vec<f32>>),
}

impl Storage {
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Storage::Cpu(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the elements to host memory.
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        match self {
            Storage::Cpu(v) => Ok(v.as_ref().clone()),
        }
    }

    /// A new buffer on `device` holding `data`.
    pub fn from_vec(data: Vec<f32>, device: &Device) -> Result<Storage> {
        match device {
            Device::Cpu => Ok(Storage::Cpu(Arc::new(data))),
        }
    }

    /// A buffer of `len` copies of `value` on `device`.
    pub fn full(len: usize, value: f32, device: &Device) -> Result<Storage> {
        Storage::from_vec(vec![value; len], device)
    }
}
