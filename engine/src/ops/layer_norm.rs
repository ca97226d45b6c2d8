//! LayerNorm over the last axis as one op (PyTorch's `F.layer_norm` with `normalized_shape`
//! the last axis): `y = (x − μ)/√(σ² + ε) · w + b` per row, `σ²` biased.
//!
//! Derivatives, with `x̂ = (x − μ)·r`, `r = 1/√(σ² + ε)`, `g = dy·w` and means over the row:
//! `∂x = r·(g − mean(g) − x̂·mean(g·x̂))`, `∂w = Σ_rows dy·x̂`, `∂b = Σ_rows dy`. The forward keeps
//! each row's `μ` and `r`, so the backward needs no second reduction over `x`.

use crate::{Error, Result, Tensor};

const OP: &str = "layer_norm";
/// FLOPs per element counted: forward (sum, centred square, sum, normalise, scale, shift),
/// input gradient (two products and sums, the combination).
const FORWARD_FLOPS: u64 = 8;
const INPUT_GRAD_FLOPS: u64 = 10;

impl Tensor {
    /// LayerNorm over the last axis, scaled by `weight` and shifted by `bias` (both of the last
    /// axis' size), with `eps` added to the variance: one kernel forward and one per gradient.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 3.0, 10.0, 10.0], &[2, 2])?;
    /// let y = x.layer_norm(&Tensor::ones(&[2]), &Tensor::zeros(&[2]), 0.0)?;
    /// assert_eq!(y.to_vec()?[..2], [-1.0, 1.0]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn layer_norm(&self, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
        let n = self.shape().last().copied().unwrap_or(0);
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if self.rank() == 0 || t.shape() != [n] || n == 0 {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: self.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    hint: format!("the {what} must have one value per feature of the last axis ({n})"),
                });
            }
        }
        if !(eps >= 0.0 && eps.is_finite()) {
            return Err(Error::BadShape {
                op: OP,
                shape: self.shape().to_vec(),
                reason: format!("eps {eps} must be a finite number ≥ 0"),
            });
        }
        let flops = FORWARD_FLOPS * self.numel() as u64;
        let (out, mean, rstd) = self.storage().layer_norm(&weight.storage(), &bias.storage(), eps, flops)?;
        let (x, w) = (self.detach(), weight.detach());
        Ok(Tensor::from_op(out, self.shape().to_vec(), OP, &[self, weight, bias], move || {
            move |g: &Tensor, needs: &[bool]| {
                let flops = INPUT_GRAD_FLOPS * x.numel() as u64;
                let (dx, dw, db) = x.storage().layer_norm_backward(
                    &w.storage(),
                    [&mean, &rstd],
                    &g.storage(),
                    flops,
                    [needs[0], needs[1], needs[2]],
                )?;
                let shaped =
                    |s: Option<crate::Storage>, shape: &[usize]| s.map(|s| Tensor::from_storage(s, shape)).transpose();
                Ok(vec![shaped(dx, x.shape())?, shaped(dw, w.shape())?, shaped(db, w.shape())?])
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    /// The nine-op composition `nn::LayerNorm` used before this op.
    fn composed(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> crate::Result<Tensor> {
        let centred = x.sub(&x.mean(-1, true)?)?;
        let var = centred.square()?.mean(-1, true)?;
        centred.div(&var.add_scalar(eps)?.sqrt()?)?.mul(w)?.add(b)
    }

    #[test]
    fn equals_the_composition_and_passes_the_gradient_check() {
        let mut rng = Rng::new(4);
        for shape in [vec![1, 1], vec![3, 5], vec![2, 3, 4], vec![70, 600]] {
            let n = *shape.last().unwrap();
            let x = Tensor::randn(&shape, 0.5, 2.0, &mut rng);
            let w = Tensor::randn(&[n], 1.0, 0.5, &mut rng);
            let b = Tensor::randn(&[n], 0.0, 0.5, &mut rng);
            let (got, want) = (x.layer_norm(&w, &b, 1e-5).unwrap(), composed(&x, &w, &b, 1e-5).unwrap());
            for (g, w) in got.to_vec().unwrap().iter().zip(want.to_vec().unwrap()) {
                assert!((g - w).abs() < 1e-4, "{shape:?}: {g} vs {w}");
            }
            if x.numel() < 100 && n > 1 {
                check_gradients(|t| t[0].layer_norm(&t[1], &t[2], 1e-5), &[x, w, b], GradCheck::default())
                    .unwrap_or_else(|e| panic!("{shape:?}: {e}"));
            }
        }
    }

    #[test]
    fn gradients_are_computed_only_for_the_inputs_that_need_them() {
        let x = Tensor::randn(&[4, 6], 0.0, 1.0, &mut Rng::new(5)).requires_grad_(true).unwrap();
        let (w, b) = (Tensor::ones(&[6]), Tensor::zeros(&[6]).requires_grad_(true).unwrap());
        x.layer_norm(&w, &b, 1e-12).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(x.grad().is_some() && w.grad().is_none());
        assert_eq!(b.grad().unwrap().to_vec().unwrap(), vec![4.0; 6]);
    }

    #[test]
    fn mismatched_weights_and_bad_eps_are_refused() {
        let x = Tensor::zeros(&[2, 3]);
        let e = x.layer_norm(&Tensor::ones(&[2]), &Tensor::zeros(&[3]), 1e-5).unwrap_err().to_string();
        assert!(e.contains("layer_norm") && e.contains("weight") && e.contains("(3)"), "{e}");
        let e = x.layer_norm(&Tensor::ones(&[3]), &Tensor::zeros(&[3]), f32::NAN).unwrap_err().to_string();
        assert!(e.contains("eps"), "{e}");
    }
}
