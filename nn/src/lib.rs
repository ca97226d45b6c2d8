//! graft's nn layer: the [`Module`] trait, [`Sequential`], layers with PyTorch weight layouts,
//! initialisers, losses, metrics, optimisers, and file formats.

pub mod data;
mod error;
pub mod formats;
pub mod init;
pub mod layers;
pub mod loss;
pub mod metrics;
mod module;
pub mod optim;
mod sequential;
pub mod train;

pub use error::{NnError, Result};
pub use module::{set_requires_grad, Module};
pub use sequential::Sequential;
