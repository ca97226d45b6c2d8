//! Losses, each returning the batch mean as a 0-d tensor.

use graft_engine::{Error, Result, Tensor};

/// Mean squared error `mean((pred − target)²)`.
pub fn mse_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    if pred.shape() != target.shape() {
        return Err(Error::ShapeMismatch {
            op: "mse_loss",
            lhs: pred.shape().to_vec(),
            rhs: target.shape().to_vec(),
            hint: "prediction and target must have the same shape".into(),
        });
    }
    pred.sub(target)?.square()?.mean_all()
}

/// Binary cross-entropy on logits, computed stably as the mean of
/// `max(x, 0) − x·y + ln(1 + e^(−|x|))` (PyTorch's `BCEWithLogitsLoss`); see
/// [`Tensor::bce_with_logits`], the fused op this calls (one kernel forward and one per
/// gradient, where the composition took eight ops forward).
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    logits.bce_with_logits(target)
}

/// Cross-entropy from logits `[n, classes]` and integer labels (PyTorch's `CrossEntropyLoss`):
/// the mean of `−log_softmax(logits)[i, labels[i]]`; see [`Tensor::cross_entropy`], the fused op
/// this calls.
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<Tensor> {
    logits.cross_entropy(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_engine::gradcheck::{check_gradients, GradCheck};
    use graft_engine::Rng;

    #[test]
    fn losses_match_hand_computed_values() {
        let p = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
        let t = Tensor::from_vec(vec![0.0, 4.0], &[2]).unwrap();
        assert_eq!(mse_loss(&p, &t).unwrap().to_scalar().unwrap(), 2.5);
        // BCE(x=0, y=1) = ln 2; BCE(x=100, y=0) = 100 (no overflow).
        let l = bce_with_logits(
            &Tensor::from_vec(vec![0.0, 100.0], &[2]).unwrap(),
            &Tensor::from_vec(vec![1.0, 0.0], &[2]).unwrap(),
        );
        assert!((l.unwrap().to_scalar().unwrap() - (std::f32::consts::LN_2 + 100.0) / 2.0).abs() < 1e-4);
        // CE of uniform logits over 4 classes = ln 4.
        let ce = cross_entropy(&Tensor::zeros(&[3, 4]), &[0, 3, 1]).unwrap().to_scalar().unwrap();
        assert!((ce - 4f32.ln()).abs() < 1e-6);
        assert!(cross_entropy(&Tensor::zeros(&[2, 4]), &[0, 4]).unwrap_err().to_string().contains("index 4"));
    }

    #[test]
    fn losses_pass_the_gradient_check() {
        let mut rng = Rng::new(0);
        let x = Tensor::randn(&[4, 3], 0.0, 2.0, &mut rng);
        let y = Tensor::rand_uniform(&[4, 3], 0.0, 1.0, &mut rng);
        check_gradients(|t| mse_loss(&t[0], &t[1]), &[x.clone(), y.clone()], GradCheck::default()).unwrap();
        check_gradients(|t| bce_with_logits(&t[0], &t[1]), &[x.clone(), y], GradCheck::default()).unwrap();
        check_gradients(|t| cross_entropy(&t[0], &[2, 0, 1, 1]), &[x], GradCheck::default()).unwrap();
    }
}
