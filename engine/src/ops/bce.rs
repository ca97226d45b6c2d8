//! Binary cross-entropy on logits, one op: PyTorch's `BCEWithLogitsLoss` with its mean
//! reduction, `L = (1/n) Σᵢ max(xᵢ, 0) − xᵢ·yᵢ + ln(1 + e^(−|xᵢ|))`.
//!
//! Derivatives (upstream gradient g): ∂L/∂xᵢ = g·(σ(xᵢ) − yᵢ)/n — for x ≥ 0 the terms give
//! 1 − y − σ(−x), for x < 0 they give −y + σ(x), both σ(x) − y; ∂L/∂yᵢ = −g·xᵢ/n.
//!
//! On the CPU the forward is one kernel (an f64 sum) and each gradient one pass; on the GPU the
//! forward is the elementwise loss kernel, the sum reduction and a scale, and each gradient one
//! kernel that reads g on the device. Each device counts one launch of `bce_with_logits` per
//! CPU kernel (the forward, each gradient) with the same FLOPs, so op statistics compare across
//! devices.

use crate::{Error, Result, Tensor};

const OP: &str = "bce_with_logits";

/// FLOPs per element counted for the forward (max, product, difference, |·|, exp, ln_1p, two
/// sums), the logits' gradient (|·|, exp, sum, quotient, difference, product) and the
/// targets' (one product).
const FORWARD_FLOPS: u64 = 8;
const LOGITS_GRAD_FLOPS: u64 = 6;
const TARGETS_GRAD_FLOPS: u64 = 1;

impl Tensor {
    /// Mean binary cross-entropy of these logits against `targets` (same shape, values usually
    /// in [0, 1]), `mean(max(x, 0) − x·y + ln(1 + e^(−|x|)))`: PyTorch's `BCEWithLogitsLoss`
    /// with its mean reduction, as a 0-d tensor. Stable for any logit (no exponential of a
    /// positive number is taken); the mean of no elements is NaN, as in PyTorch. Gradients flow
    /// to both the logits and the targets.
    ///
    /// ```
    /// # use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![0.0, 100.0], &[2])?;
    /// let y = Tensor::from_vec(vec![1.0, 0.0], &[2])?;
    /// let loss = x.bce_with_logits(&y)?.to_scalar()?;
    /// assert!((loss - (std::f32::consts::LN_2 + 100.0) / 2.0).abs() < 1e-5);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn bce_with_logits(&self, targets: &Tensor) -> Result<Tensor> {
        if self.shape() != targets.shape() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().to_vec(),
                rhs: targets.shape().to_vec(),
                hint: "logits and targets must have the same shape".into(),
            });
        }
        let n = self.numel() as u64;
        let out = self.storage().bce_with_logits(&targets.storage(), FORWARD_FLOPS * n)?;
        let (x, y) = (self.detach(), targets.detach());
        Ok(Tensor::from_op(out, Vec::new(), OP, &[self, targets], move || {
            move |g: &Tensor, needs: &[bool]| bce_backward(&x, &y, g, needs)
        }))
    }
}

fn bce_backward(x: &Tensor, y: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
    let n = x.numel() as u64;
    let dx = needs[0]
        .then(|| {
            let dx = x.storage().bce_with_logits_backward(&y.storage(), &g.storage(), LOGITS_GRAD_FLOPS * n)?;
            Tensor::from_storage(dx, x.shape())
        })
        .transpose()?;
    let dy = needs[1]
        .then(|| {
            let dy = x.storage().bce_with_logits_backward_targets(&g.storage(), TARGETS_GRAD_FLOPS * n)?;
            Tensor::from_storage(dy, y.shape())
        })
        .transpose()?;
    Ok(vec![dx, dy])
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{op_stats, reset_op_stats, Error, Rng, Tensor};

    /// The loss composed of eight elementwise ops, as `nn::loss` computed it before this op.
    fn composed(x: &Tensor, y: &Tensor) -> Tensor {
        let soft_plus = x.abs().unwrap().neg().unwrap().exp().unwrap().add_scalar(1.0).unwrap().log().unwrap();
        x.relu().unwrap().sub(&x.mul(y).unwrap()).unwrap().add(&soft_plus).unwrap().mean_all().unwrap()
    }

    #[test]
    fn bce_matches_its_composition_value_and_gradients() {
        let mut rng = Rng::new(31);
        let x = Tensor::randn(&[5, 7], 0.0, 3.0, &mut rng).requires_grad_(true).unwrap();
        let y = Tensor::rand_uniform(&[5, 7], 0.0, 1.0, &mut rng).requires_grad_(true).unwrap();
        let fused = x.bce_with_logits(&y).unwrap();
        assert!(fused.shape().is_empty(), "a 0-d loss");
        let want = composed(&x, &y);
        assert!((fused.to_scalar().unwrap() - want.to_scalar().unwrap()).abs() < 1e-6);
        fused.backward().unwrap();
        let (fx, fy) = (x.grad().unwrap().to_vec().unwrap(), y.grad().unwrap().to_vec().unwrap());
        x.zero_grad();
        y.zero_grad();
        want.backward().unwrap();
        for (a, b) in
            fx.iter().zip(x.grad().unwrap().to_vec().unwrap()).chain(fy.iter().zip(y.grad().unwrap().to_vec().unwrap()))
        {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn extreme_logits_do_not_overflow_and_give_the_exact_loss() {
        let x = Tensor::from_vec(vec![100.0, -100.0, 100.0, -100.0, 0.0], &[5]).unwrap().requires_grad_(true).unwrap();
        let y = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 1.0], &[5]).unwrap();
        let loss = x.bce_with_logits(&y).unwrap();
        // 100 + 100 + e^-100 + e^-100 + ln 2, of which the e^-100 vanish against 200 in f32.
        let want = ((200.0 + std::f64::consts::LN_2) / 5.0) as f32;
        let got = loss.to_scalar().unwrap();
        assert!((got - want).abs() <= f32::EPSILON * want, "{got} vs {want}");
        loss.backward().unwrap();
        // σ(±100) is 1 or 0 to f32 precision: gradients ±1/5, 0, 0, −1/10.
        let g = x.grad().unwrap().to_vec().unwrap();
        for (got, want) in g.iter().zip([0.2, -0.2, 0.0, 0.0, -0.1]) {
            assert!((got - want).abs() < 1e-7, "{g:?}");
        }
    }

    #[test]
    fn bce_passes_the_gradient_check_on_both_inputs() {
        let mut rng = Rng::new(32);
        for shape in [vec![1], vec![6], vec![3, 4], vec![2, 1, 3], vec![1, 5], vec![]] {
            let x = Tensor::randn(&shape, 0.0, 2.0, &mut rng);
            let y = Tensor::rand_uniform(&shape, 0.0, 1.0, &mut rng);
            check_gradients(|t| t[0].bce_with_logits(&t[1]), &[x.clone(), y.clone()], GradCheck::default())
                .unwrap_or_else(|e| panic!("{shape:?}: {e}"));
            // A loss gradient other than 1, which the rule must scale by.
            check_gradients(|t| t[0].bce_with_logits(&t[1])?.mul_scalar(3.0), &[x, y], GradCheck::default())
                .unwrap_or_else(|e| panic!("{shape:?} times 3: {e}"));
        }
    }

    #[test]
    fn only_the_gradients_asked_for_are_computed() {
        let mut rng = Rng::new(33);
        let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng).requires_grad_(true).unwrap();
        let y = Tensor::rand_uniform(&[4, 3], 0.0, 1.0, &mut rng);
        reset_op_stats();
        x.bce_with_logits(&y).unwrap().backward().unwrap();
        let stats = op_stats();
        assert_eq!(stats.forward_launches("bce_with_logits"), 1, "{stats:?}");
        assert_eq!(stats.backward_launches("bce_with_logits"), 1, "the targets' gradient is skipped: {stats:?}");
        assert!(x.grad().is_some() && y.grad().is_none());
        // Targets only (logits frozen).
        let (x, y) = (x.detach(), y.requires_grad_(true).unwrap());
        reset_op_stats();
        x.bce_with_logits(&y).unwrap().backward().unwrap();
        assert_eq!(op_stats().backward_launches("bce_with_logits"), 1);
        let want: Vec<f32> = x.to_vec().unwrap().iter().map(|v| -v / 12.0).collect();
        for (a, b) in y.grad().unwrap().to_vec().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn bad_shapes_name_the_op_and_both_shapes_and_empty_input_is_nan() {
        let err = Tensor::zeros(&[2, 3]).bce_with_logits(&Tensor::zeros(&[3, 2])).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { op: "bce_with_logits", .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("bce_with_logits") && msg.contains("[2, 3]") && msg.contains("[3, 2]"), "{msg}");
        assert!(msg.contains("same shape"), "{msg}");
        let x = Tensor::zeros(&[0, 3]).requires_grad_(true).unwrap();
        let loss = x.bce_with_logits(&Tensor::zeros(&[0, 3])).unwrap();
        assert!(loss.to_scalar().unwrap().is_nan(), "the mean of nothing is NaN");
        loss.backward().unwrap();
        assert_eq!(x.grad().unwrap().shape(), &[0, 3]);
    }
}
