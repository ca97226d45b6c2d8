//! What training reports: [`EpochRecord`], [`History`], [`Progress`], [`EvalResult`].

use std::time::Duration;

/// Loss and metric of a model over a dataset, from [`evaluate`](crate::train::evaluate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalResult {
    /// Mean loss per sample.
    pub loss: f32,
    /// The metric, unless [`MetricKind::None`](crate::train::MetricKind::None) was asked for.
    pub metric: Option<f32>,
}

/// One epoch of training.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// Mean training loss per sample over the epoch (measured while the weights changed, as
    /// Keras and most PyTorch loops report it).
    pub train_loss: f32,
    /// Training metric over the epoch, measured the same way.
    pub train_metric: Option<f32>,
    /// Loss on the validation set after the epoch, when one was given.
    pub val_loss: Option<f32>,
    /// Metric on the validation set after the epoch.
    pub val_metric: Option<f32>,
    /// Time for the epoch, validation included.
    pub wall_time: Duration,
    /// The optimiser's learning rate during the epoch.
    pub lr: f32,
}

/// Per-epoch records of a [`fit`](crate::train::fit) run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One record per completed epoch, in order.
    pub epochs: Vec<EpochRecord>,
    /// With early stopping: the epoch of the lowest validation loss (whose weights the model
    /// holds when they were restored).
    pub best_epoch: Option<usize>,
    /// With early stopping: whether training stopped before its last epoch.
    pub stopped_early: bool,
}

impl History {
    /// The last completed epoch.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// Total wall time of all epochs.
    pub fn wall_time(&self) -> Duration {
        self.epochs.iter().map(|e| e.wall_time).sum()
    }

    /// Training loss per epoch.
    pub fn train_losses(&self) -> Vec<f32> {
        self.epochs.iter().map(|e| e.train_loss).collect()
    }
}

/// Events reported while training, so a caller can draw a progress bar or log.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// An epoch begins; it will take `steps` steps.
    EpochStart {
        /// The epoch, counted from 1.
        epoch: usize,
        /// Total epochs of the run.
        epochs: usize,
        /// Steps (batches) in this epoch.
        steps: usize,
    },
    /// A step finished: the weights have been updated.
    Batch {
        /// The epoch, counted from 1.
        epoch: usize,
        /// The step within the epoch, counted from 1.
        step: usize,
        /// Steps in this epoch.
        steps: usize,
        /// This batch's loss.
        loss: f32,
        /// Mean loss per sample over the epoch so far.
        running_loss: f32,
    },
    /// An epoch finished (validation included).
    EpochEnd(EpochRecord),
}
