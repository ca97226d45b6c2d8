//! The engine's error type: every message names the op, the shapes involved and, where there is
//! one, the fix.

use std::fmt;

/// Shorthand for results of engine operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything an engine operation can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two operands whose shapes do not fit together (broadcasting, matmul, concat...).
    ShapeMismatch { op: &'static str, lhs: Vec<usize>, rhs: Vec<usize>, hint: String },
    /// A shape that cannot be used with this op (wrong rank, empty, ...).
    BadShape { op: &'static str, shape: Vec<usize>, reason: String },
    /// An axis beyond the tensor's rank.
    AxisOutOfRange { op: &'static str, axis: isize, rank: usize },
    /// An index beyond the size of the axis it indexes.
    IndexOutOfRange { op: &'static str, index: usize, len: usize },
    /// Data whose length does not match the requested shape.
    ElementCount { op: &'static str, shape: Vec<usize>, expected: usize, got: usize },
    /// `backward()` on a tensor with more than one element.
    BackwardNonScalar { shape: Vec<usize> },
    /// `backward()` on a tensor that does not require grad.
    BackwardNoGrad,
    /// A second `backward()` through a graph whose saved values the first one freed.
    GraphFreed { op: &'static str },
    /// `set_requires_grad` on a tensor made by an op.
    NotALeaf,
    /// Operands that live on different devices.
    DeviceMismatch { op: &'static str, lhs: String, rhs: String },
    /// A device failed or is unavailable.
    Device(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch { op, lhs, rhs, hint } => {
                write!(f, "{op}: shapes {lhs:?} and {rhs:?} do not fit together")?;
                if !hint.is_empty() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            Error::BadShape { op, shape, reason } => write!(f, "{op}: shape {shape:?} cannot be used: {reason}"),
            Error::AxisOutOfRange { op, axis, rank } => {
                write!(f, "{op}: axis {axis} is out of range for a tensor of rank {rank} (use -{rank}..{rank})")
            }
            Error::IndexOutOfRange { op, index, len } => {
                write!(f, "{op}: index {index} is out of range for an axis of size {len}")
            }
            Error::ElementCount { op, shape, expected, got } => {
                write!(f, "{op}: shape {shape:?} needs {expected} elements but {got} were given")
            }
            Error::BackwardNonScalar { shape } => write!(
                f,
                "backward: the tensor has shape {shape:?}; backward() starts from a single value — reduce it first (e.g. .sum_all() or .mean_all())"
            ),
            Error::GraphFreed { op } => write!(
                f,
                "backward: the graph through `{op}` was already used by an earlier backward(), which freed the values it saved — compute the loss again for another backward pass"
            ),
            Error::BackwardNoGrad => write!(
                f,
                "backward: the tensor does not require grad — no input of the computation had requires_grad set (or it ran under no_grad)"
            ),
            Error::NotALeaf => write!(
                f,
                "set_requires_grad: only leaf tensors (made by the user, not by an op) can change requires_grad; use .detach() first"
            ),
            Error::DeviceMismatch { op, lhs, rhs } => {
                write!(f, "{op}: operands are on different devices ({lhs} and {rhs}); move one with .to_device()")
            }
            Error::Device(msg) => write!(f, "device error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(feature = "gpu")]
impl From<graft_kernels::gpu::GpuError> for Error {
    /// A GPU failure: the message names the device (adapter, backend) and the cause.
    fn from(e: graft_kernels::gpu::GpuError) -> Self {
        Error::Device(e.to_string())
    }
}
