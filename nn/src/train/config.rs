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

impl LossKind {
    /// The loss a classifier with `units` outputs trains with, as Keras users pick it: binary
    /// cross-entropy for a 1-unit (sigmoid) head, cross-entropy otherwise.
    ///
    /// ```
    /// use graft_nn::train::{LossKind, MetricKind};
    /// assert_eq!(LossKind::for_classifier(1), LossKind::BceWithLogits);
    /// assert_eq!(LossKind::for_classifier(10).metric(), MetricKind::Accuracy);
    /// ```
    pub fn for_classifier(units: usize) -> LossKind {
        if units == 1 {
            LossKind::BceWithLogits
        } else {
            LossKind::CrossEntropy
        }
    }

    /// The metric that goes with this loss: accuracy (argmax) for cross-entropy, accuracy at a
    /// probability of 0.5 for binary cross-entropy, none for MSE.
    pub fn metric(self) -> MetricKind {
        match self {
            LossKind::CrossEntropy => MetricKind::Accuracy,
            LossKind::BceWithLogits => MetricKind::BinaryAccuracy,
            LossKind::Mse => MetricKind::None,
        }
    }
}

/// Stop training when the validation loss has not improved for `patience` epochs, as Keras'
/// `EarlyStopping(monitor="val_loss", patience=…, min_delta=…, restore_best_weights=…)`.
///
/// An epoch improves when its validation loss is below the best so far by more than
/// `min_delta`. With `restore_best_weights`, the model ends with the parameters and buffers of
/// the best epoch, whether training stopped early or ran out of epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before training stops (at least 1).
    pub patience: usize,
    /// Smallest decrease of the validation loss that counts as an improvement.
    pub min_delta: f32,
    /// End with the weights of the best epoch instead of the last one.
    pub restore_best_weights: bool,
}

impl EarlyStopping {
    /// `patience` epochs, any decrease counts, best weights restored.
    pub fn restoring_best(patience: usize) -> Self {
        EarlyStopping { patience, min_delta: 0.0, restore_best_weights: true }
    }
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
    /// Stop when the validation loss stops improving (needs a validation set).
    pub early_stopping: Option<EarlyStopping>,
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
            early_stopping: None,
        }
    }
}
