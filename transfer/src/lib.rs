//! graft's transfer workflow: reuse the lower layers of a pretrained model for a new task.
//!
//! Clone the pretrained model (the original is never touched), keep its lower layers, graft a
//! new head, freeze what is reused with a [`TrainableMask`], train the head, then unfreeze the
//! top reused layers and continue at a lower learning rate — and sweep how many layers are
//! worth reusing.

mod error;
mod mask;
mod mode;
mod surgery;
mod units;

pub use error::{Result, TransferError};
pub use mask::TrainableMask;
pub use mode::{set_training_mode, MaskedModel};
pub use surgery::{clone_model, drop_top_units, graft_head, keep_units, output_shape, submodel};
pub use units::{count_units, layer_units, unit_start};
