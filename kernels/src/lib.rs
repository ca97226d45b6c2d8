//! Primitive f32 kernels for graft.
//!
//! This crate knows nothing of tensors or autodiff: every kernel is a plain function over slices
//! plus the few integers that describe a layout. The engine picks a kernel, hands it buffers and
//! counts the work. `cpu` is the rayon back end; the GPU back end lives beside it behind the `gpu`
//! feature and speaks the same vocabulary (the op enums and layout structs defined here).

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod layout;
pub mod ops;
pub mod unary_table;

pub use layout::{broadcast_shape, contiguous_strides, AxisSplit};
pub use ops::{BinaryOp, ReduceOp, UnaryOp};
