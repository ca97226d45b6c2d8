//! What to train with: [`FitConfig`], [`LossKind`], [`MetricKind`].

/// The loss minimised by [`fit`](crate::train::fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossKind {
    /// Cross-entropy from logits `[n, classes]` against class labels (PyTorch's `CrossEntropyLoss`).
    CrossEntropy,
    /// Mean squared error against value targets (PyTorch's `MSELoss`).
    Mse,
    /// Binary cross-entropy from logits against 0/1 value targets (PyTorch's `BCEWithLogitsLoss`).
    BceWithLogits,
}

/// The metric reported beside the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Fraction of samples whose highest logit is the labelled class (needs class labels).
    Accuracy,
    /// Fraction of logits on the right side of 0 for 0/1 value targets.
    BinaryAccuracy,
    /// No metric.
    None,
}

impl MetricKind {
    /// Short name for tables and progress bars (`acc`, `bin_acc`).
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Accuracy => "acc",
            MetricKind::BinaryAccuracy => "bin_acc",
            MetricKind::None => "",
        }
    }
}

/// Settings of [`fit`](crate::train::fit). The default trains a classifier: 10 epochs of
/// shuffled batches of 32 with cross-entropy and accuracy, seed 0.
///
/// ```
/// use graft_nn::train::{FitConfig, LossKind, MetricKind};
/// let regression = FitConfig { epochs: 50, loss: LossKind::Mse, metric: MetricKind::None, ..FitConfig::default() };
/// assert_eq!(regression.batch_size, 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Seeds the shuffling, so a seed fixes the order of every epoch.
    pub seed: u64,
    /// Whether to visit the training samples in a new random order each epoch.
    pub shuffle: bool,
    /// The loss to minimise.
    pub loss: LossKind,
    /// The metric to report.
    pub metric: MetricKind,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            shuffle: true,
            loss: LossKind::CrossEntropy,
            metric: MetricKind::Accuracy,
        }
    }
}
