//! Metrics computed on the host from a batch's outputs.

use graft_engine::{Error, Result, Tensor};

/// Fraction of rows of `logits` `[n, classes]` whose argmax equals the label.
pub fn accuracy(logits: &Tensor, labels: &[usize]) -> Result<f32> {
    if logits.rank() != 2 || logits.shape()[0] != labels.len() {
        return Err(Error::ShapeMismatch {
            op: "accuracy",
            lhs: logits.shape().to_vec(),
            rhs: vec![labels.len()],
            hint: "logits must be [n, classes] with one label per row".into(),
        });
    }
    if labels.is_empty() {
        return Ok(0.0);
    }
    let pred = logits.argmax(1, false)?.to_vec()?;
    Ok(pred.iter().zip(labels).filter(|(p, &l)| **p as usize == l).count() as f32 / labels.len() as f32)
}

/// Fraction of logits on the right side of 0 for targets in {0, 1} (a probability threshold of
/// 0.5 after a sigmoid).
pub fn binary_accuracy(logits: &Tensor, targets: &Tensor) -> Result<f32> {
    if logits.numel() != targets.numel() {
        return Err(Error::ShapeMismatch {
            op: "binary_accuracy",
            lhs: logits.shape().to_vec(),
            rhs: targets.shape().to_vec(),
            hint: "one target per logit".into(),
        });
    }
    let (l, t) = (logits.to_vec()?, targets.to_vec()?);
    if l.is_empty() {
        return Ok(0.0);
    }
    Ok(l.iter().zip(&t).filter(|(x, y)| (**x > 0.0) == (**y > 0.5)).count() as f32 / l.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_correct_predictions() {
        let logits = Tensor::from_vec(vec![1.0, 2.0, 5.0, 0.0, 0.0, 9.0], &[3, 2]).unwrap();
        assert_eq!(accuracy(&logits, &[1, 0, 0]).unwrap(), 2.0 / 3.0);
        let b = Tensor::from_vec(vec![-1.0, 2.0, 0.5], &[3]).unwrap();
        assert_eq!(binary_accuracy(&b, &Tensor::from_vec(vec![0.0, 1.0, 0.0], &[3]).unwrap()).unwrap(), 2.0 / 3.0);
    }
}
