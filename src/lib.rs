//! graft: a from-scratch tensor and reverse-mode autodiff engine with a transfer-learning
//! workflow on top. This crate re-exports the layers of the house:
//!
//! - [`kernels`]: primitive f32 kernels (rayon CPU back end),
//! - [`engine`]: `Tensor`, devices, autodiff, op statistics,
//! - [`nn`]: layers, losses, optimisers, data, model files,
//! - [`transfer`]: reuse pretrained layers, freeze, train in phases.

pub use graft_engine as engine;
pub use graft_kernels as kernels;
pub use graft_nn as nn;
pub use graft_transfer as transfer;
