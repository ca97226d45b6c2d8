//! The loss and metric of a batch, and the checks that they suit the targets and the model.

use super::config::{LossKind, MetricKind};
use crate::data::Targets;
use crate::loss::{bce_with_logits, cross_entropy, mse_loss};
use crate::metrics::{accuracy, binary_accuracy};
use crate::{Fix, Module, NnError, Result};
use graft_engine::Tensor;

/// Refuses a loss or metric that cannot work with the dataset's kind of targets, before any
/// training starts. Binary cross-entropy and binary accuracy take 0/1 values or class labels
/// 0 and 1 (as Keras' `binary_crossentropy` takes integer labels).
pub(crate) fn check_compatible(loss: LossKind, metric: MetricKind, targets: &Targets, what: &str) -> Result<()> {
    let classes = matches!(targets, Targets::Classes(_));
    let loss_ok = match loss {
        LossKind::CrossEntropy => classes,
        LossKind::Mse => !classes,
        LossKind::BceWithLogits => true,
    };
    if !loss_ok {
        let (others, fix) = if classes {
            ("cross-entropy and binary cross-entropy train on class labels", Fix::TargetsAsValues)
        } else {
            ("MSE and binary cross-entropy train on values", Fix::TargetsAsClasses)
        };
        return Err(NnError::fixable(
            format!("{loss:?} cannot train on {what} holding {} ({others})", targets.describe()),
            fix,
        ));
    }
    let metric_ok = match metric {
        MetricKind::Accuracy => classes,
        MetricKind::BinaryAccuracy | MetricKind::None => true,
    };
    if !metric_ok {
        return Err(NnError::fixable(
            format!(
                "{metric:?} cannot score {what} holding {} (binary accuracy scores 0/1 values)",
                targets.describe()
            ),
            Fix::TargetsAsClasses,
        ));
    }
    if let (LossKind::BceWithLogits, Targets::Classes(labels)) = (loss, targets) {
        binary_labels(labels, what)?;
    }
    Ok(())
}

/// Refuses a model whose last layer is the activation the loss applies itself: a softmax
/// before cross-entropy (softmax applied twice: training stalls) or a sigmoid before binary
/// cross-entropy on logits.
pub(crate) fn check_model_ends_in_logits(model: &dyn Module, loss: LossKind) -> Result<()> {
    let Some(last) = last_layer_spec(model) else { return Ok(()) };
    let doubled = match loss {
        LossKind::CrossEntropy => last.starts_with("softmax("),
        LossKind::BceWithLogits => last == "sigmoid",
        LossKind::Mse => false,
    };
    if doubled {
        let applies = if loss == LossKind::CrossEntropy { "a log-softmax" } else { "a sigmoid" };
        return Err(NnError::fixable(
            format!(
                "the model ends in `{last}`, but {loss:?} takes logits and applies {applies} itself, so training \
                 would apply it twice"
            ),
            Fix::RemoveFinalActivation { layer: last },
        ));
    }
    Ok(())
}

/// The spec of the innermost last layer of a tree of `Sequential`s.
fn last_layer_spec(model: &dyn Module) -> Option<String> {
    match model.as_sequential() {
        Some(seq) => seq.iter().last().and_then(|(_, layer)| last_layer_spec(layer.as_ref())),
        None => Some(model.spec()),
    }
}

/// Checks a batch's outputs against the loss before the first step, so a head of the wrong
/// width fails with the fix instead of an index error from inside the loss.
pub(crate) fn check_outputs(loss: LossKind, out: &Tensor, targets: &Targets) -> Result<()> {
    let units = if out.rank() == 0 { 1 } else { out.numel() / out.shape()[0].max(1) };
    match (loss, targets) {
        (LossKind::CrossEntropy, Targets::Classes(labels)) => {
            let needed = labels.iter().max().map_or(0, |&m| m + 1);
            if units == 1 {
                return Err(NnError::fixable(
                    format!(
                        "the model has 1 output unit, but cross-entropy needs one logit per class (labels up to \
                         {})",
                        needed.saturating_sub(1)
                    ),
                    Fix::BceLoss,
                ));
            }
            if out.rank() != 2 {
                return Err(NnError::Data(format!(
                    "cross-entropy needs outputs [n, classes], but the model gives {:?} — end the model in a \
                     linear layer (after a flatten)",
                    out.shape()
                )));
            }
            if units < needed {
                return Err(NnError::Data(format!(
                    "the model has {units} output units, but the labels go up to {} — give the output layer at \
                     least {needed} units",
                    needed - 1
                )));
            }
        }
        (LossKind::BceWithLogits, _) if units != 1 && matches!(targets, Targets::Classes(_)) => {
            return Err(NnError::fixable(
                format!(
                    "binary cross-entropy on class labels needs a 1-unit output (a sigmoid head), but the model has \
                     {units} output units"
                ),
                Fix::CrossEntropyLoss,
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Labels of a binary task must be 0 or 1.
fn binary_labels(labels: &[usize], what: &str) -> Result<()> {
    match labels.iter().find(|&&l| l > 1) {
        Some(&bad) => Err(NnError::fixable(
            format!("binary cross-entropy needs labels 0 and 1, but {what} holds label {bad}"),
            Fix::CrossEntropyLoss,
        )),
        None => Ok(()),
    }
}

/// 0/1 class labels as a `[n, 1]` tensor of values on `out`'s device.
fn labels_as_values(labels: &[usize], out: &Tensor) -> Result<Tensor> {
    let values = labels.iter().map(|&l| l as f32).collect();
    Ok(Tensor::from_vec(values, &[labels.len(), 1])?.to_device(&out.device())?)
}

/// The mean loss of a batch's outputs.
pub(crate) fn batch_loss(kind: LossKind, out: &Tensor, targets: &Targets) -> Result<Tensor> {
    Ok(match (kind, targets) {
        (LossKind::CrossEntropy, Targets::Classes(labels)) => cross_entropy(out, labels)?,
        (LossKind::Mse, Targets::Values(v)) => mse_loss(out, &fit_shape(v, out))?,
        (LossKind::BceWithLogits, Targets::Values(v)) => bce_with_logits(out, &fit_shape(v, out))?,
        (LossKind::BceWithLogits, Targets::Classes(labels)) => {
            bce_with_logits(out, &fit_shape(&labels_as_values(labels, out)?, out))?
        }
        _ => return Err(NnError::Data(format!("{kind:?} cannot train on {}", targets.describe()))),
    })
}

/// The metric of a batch's outputs (computed on the host, outside the graph).
pub(crate) fn batch_metric(kind: MetricKind, out: &Tensor, targets: &Targets) -> Result<Option<f32>> {
    Ok(match (kind, targets) {
        (MetricKind::None, _) => None,
        (MetricKind::Accuracy, Targets::Classes(labels)) => Some(accuracy(out, labels)?),
        (MetricKind::BinaryAccuracy, Targets::Values(v)) => Some(binary_accuracy(out, v)?),
        (MetricKind::BinaryAccuracy, Targets::Classes(labels)) => {
            Some(binary_accuracy(out, &labels_as_values(labels, out)?)?)
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;

    #[test]
    fn a_model_ending_in_the_losss_own_activation_is_refused_with_the_layer() {
        let m = parse_spec("flatten,linear(4,3),softmax(1)", 0).unwrap();
        let e = check_model_ends_in_logits(&m, LossKind::CrossEntropy).unwrap_err();
        assert!(
            matches!(&e, NnError::Fixable { fix: Fix::RemoveFinalActivation { layer }, .. } if layer == "softmax(1)")
        );
        assert!(e.to_string().contains("applies a log-softmax itself"), "{e}");
        let nested = parse_spec("body=[linear(4,1)],out=[sigmoid]", 0).unwrap();
        let e = check_model_ends_in_logits(&nested, LossKind::BceWithLogits).unwrap_err().to_string();
        assert!(e.contains("ends in `sigmoid`"), "{e}");
        assert!(check_model_ends_in_logits(&nested, LossKind::Mse).is_ok());
        assert!(check_model_ends_in_logits(&parse_spec("linear(4,3)", 0).unwrap(), LossKind::CrossEntropy).is_ok());
    }

    #[test]
    fn outputs_of_the_wrong_width_name_the_fix() {
        let one = Tensor::zeros(&[3, 1]);
        let e = check_outputs(LossKind::CrossEntropy, &one, &Targets::Classes(vec![0, 1, 1])).unwrap_err();
        assert!(matches!(e, NnError::Fixable { fix: Fix::BceLoss, .. }), "{e}");
        let e = check_outputs(LossKind::CrossEntropy, &Tensor::zeros(&[3, 2]), &Targets::Classes(vec![0, 4, 1]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 output units") && e.contains("at least 5 units"), "{e}");
        let e = check_outputs(LossKind::BceWithLogits, &Tensor::zeros(&[3, 2]), &Targets::Classes(vec![0, 1, 1]))
            .unwrap_err();
        assert!(matches!(e, NnError::Fixable { fix: Fix::CrossEntropyLoss, .. }), "{e}");
        assert!(check_outputs(LossKind::BceWithLogits, &one, &Targets::Classes(vec![0, 1, 1])).is_ok());
        let e =
            check_compatible(LossKind::BceWithLogits, MetricKind::BinaryAccuracy, &Targets::Classes(vec![0, 2]), "x")
                .unwrap_err()
                .to_string();
        assert!(e.contains("labels 0 and 1") && e.contains("label 2"), "{e}");
    }

    #[test]
    fn binary_labels_train_and_score_like_values() {
        let out = Tensor::from_vec(vec![2.0, -1.0, 0.5], &[3, 1]).unwrap();
        let labels = Targets::Classes(vec![1, 0, 0]);
        let values = Targets::Values(Tensor::from_vec(vec![1.0, 0.0, 0.0], &[3]).unwrap());
        let (a, b) = (
            batch_loss(LossKind::BceWithLogits, &out, &labels).unwrap().to_scalar().unwrap(),
            batch_loss(LossKind::BceWithLogits, &out, &values).unwrap().to_scalar().unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(batch_metric(MetricKind::BinaryAccuracy, &out, &labels).unwrap(), Some(2.0 / 3.0));
    }
}
