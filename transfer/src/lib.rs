//! graft's transfer workflow: reuse the lower layers of a pretrained model for a new task.
//!
//! Clone the pretrained model (the original is never touched), keep its lower layers, graft a
//! new head, freeze what is reused with a [`TrainableMask`], train the head, then unfreeze the
//! top reused layers and continue at a lower learning rate ([`run_schedule`]) — and
//! [`sweep`] how many layers are worth reusing.

mod cache;
mod error;
mod mask;
mod mode;
mod phase;
mod surgery;
mod sweep;
mod units;

pub use cache::{cache_features, cache_features_reporting, cacheable_prefix};
pub use error::{Result, TransferError};
pub use mask::TrainableMask;
pub use mode::{set_training_mode, MaskedModel};
pub use phase::{
    run_schedule, run_schedule_checkpointed, OptimizerSpec, Phase, PhaseProgress, PhaseResult, Schedule,
    ScheduleResult, Trainable,
};
pub use surgery::{clone_model, drop_top_units, graft_head, keep_units, output_shape, submodel};
pub use sweep::{sweep, SweepConfig, SweepData, SweepReport, Trial, UNFREEZE_ALL};
pub use units::{count_units, layer_units, unit_start};
