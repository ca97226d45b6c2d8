//! The one error type of the GPU back end.

use std::fmt;

/// Why a GPU operation failed. Every variant names the device (when one was reached) and the cause,
/// so an error read in a log says where and why without a backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter matched the request: no GPU, no driver, or `WGPU_BACKEND` names a missing backend.
    NoAdapter(String),
    /// The adapter was found but refused to open a device.
    DeviceRequest { device: String, cause: String },
    /// A buffer larger than the device can bind as one storage buffer.
    TooLarge { device: String, bytes: u64, max_bytes: u64 },
    /// An argument the kernel cannot work with (lengths, ranks, indices out of range).
    Invalid { device: String, op: &'static str, cause: String },
    /// wgpu reported a validation, out-of-memory or internal error, or a readback failed.
    Backend { device: String, cause: String },
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter(cause) => write!(f, "no GPU adapter available: {cause}"),
            GpuError::DeviceRequest { device, cause } => write!(f, "GPU {device}: could not open the device: {cause}"),
            GpuError::TooLarge { device, bytes, max_bytes } => write!(
                f,
                "GPU {device}: a buffer of {bytes} bytes exceeds the device's storage binding limit of {max_bytes} bytes"
            ),
            GpuError::Invalid { device, op, cause } => write!(f, "GPU {device}: {op}: {cause}"),
            GpuError::Backend { device, cause } => write!(f, "GPU {device}: {cause}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// Shorthand for results of the GPU back end.
pub type GpuResult<T> = Result<T, GpuError>;
