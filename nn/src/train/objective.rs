//! The loss and metric of a batch, and the check that they suit the targets.

use super::config::{LossKind, MetricKind};
use crate::data::Targets;
use crate::loss::{bce_with_logits, cross_entropy, mse_loss};
use crate::metrics::{accuracy, binary_accuracy};
use crate::{NnError, Result};
use graft_engine::Tensor;

/// Refuses a loss or metric that cannot work with the dataset's kind of targets, before any
/// training starts.
pub(crate) fn check_compatible(loss: LossKind, metric: MetricKind, targets: &Targets, what: &str) -> Result<()> {
    let classes = matches!(targets, Targets::Classes(_));
    let loss_ok = match loss {
        LossKind::CrossEntropy => classes,
        LossKind::Mse | LossKind::BceWithLogits => !classes,
    };
    if !loss_ok {
        let fix = if classes {
            "use LossKind::CrossEntropy for class labels, or load the targets as TargetKind::Values"
        } else {
            "cross-entropy needs class labels: load the targets as TargetKind::Classes, or use Mse / BceWithLogits"
        };
        return Err(NnError::Data(format!("{loss:?} cannot train on {what} holding {} — {fix}", targets.describe())));
    }
    let metric_ok = match metric {
        MetricKind::Accuracy => classes,
        MetricKind::BinaryAccuracy => !classes,
        MetricKind::None => true,
    };
    if !metric_ok {
        let fix = if classes { "use MetricKind::Accuracy for class labels" } else { "use MetricKind::BinaryAccuracy" };
        return Err(NnError::Data(format!("{metric:?} cannot score {what} holding {} — {fix}", targets.describe())));
    }
    Ok(())
}

/// The mean loss of a batch's outputs.
pub(crate) fn batch_loss(kind: LossKind, out: &Tensor, targets: &Targets) -> Result<Tensor> {
    Ok(match (kind, targets) {
        (LossKind::CrossEntropy, Targets::Classes(labels)) => cross_entropy(out, labels)?,
        (LossKind::Mse, Targets::Values(v)) => mse_loss(out, &fit_shape(v, out))?,
        (LossKind::BceWithLogits, Targets::Values(v)) => bce_with_logits(out, &fit_shape(v, out))?,
        _ => return Err(NnError::Data(format!("{kind:?} cannot train on {}", targets.describe()))),
    })
}

/// The metric of a batch's outputs (computed on the host, outside the graph).
pub(crate) fn batch_metric(kind: MetricKind, out: &Tensor, targets: &Targets) -> Result<Option<f32>> {
    Ok(match (kind, targets) {
        (MetricKind::None, _) => None,
        (MetricKind::Accuracy, Targets::Classes(labels)) => Some(accuracy(out, labels)?),
        (MetricKind::BinaryAccuracy, Targets::Values(v)) => Some(binary_accuracy(out, v)?),
        _ => return Err(NnError::Data(format!("{kind:?} cannot score {}", targets.describe()))),
    })
}

/// Targets `[n]` against outputs `[n, 1]` (or the reverse) are reshaped to the outputs' shape,
/// as a user storing one value per sample expects; other mismatches are left for the loss to
/// report.
fn fit_shape(target: &Tensor, out: &Tensor) -> Tensor {
    let same_samples = target.shape().first() == out.shape().first();
    if target.shape() != out.shape() && same_samples && target.numel() == out.numel() {
        if let Ok(t) = target.reshape(out.shape()) {
            return t;
        }
    }
    target.clone()
}
