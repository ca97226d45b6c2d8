//! Where a tensor's data lives.

use std::fmt;

/// A compute device. The CPU back end is always present; the GPU back end arrives behind the
/// `gpu` feature and slots in here as a further variant.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Cpu,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
        }
    }
}
