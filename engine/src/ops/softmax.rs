//! Softmax and log-softmax along an axis, each one fused kernel forward and one backward, and
//! the cross-entropy loss built on log-softmax.
//!
//! Derivatives from the output y: softmax → y ⊙ (g − Σ g ⊙ y); log_softmax → g − eʸ Σ g;
//! mean cross-entropy of logits x against labels → g · (softmax(x) − one_hot) / rows.

use crate::{Error, Result, Tensor};
use graft_kernels::AxisSplit;
use std::sync::Arc;

impl Tensor {
    /// `exp(x) / Σ exp(x)` along `axis`, computed stably.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, false)
    }

    /// `log(softmax(x))` along `axis`, computed without forming the softmax.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, true)
    }

    /// Mean cross-entropy of `[rows, classes]` logits against one class index per row,
    /// `−(1/rows) Σᵢ log_softmax(xᵢ)[labelᵢ]`: PyTorch's `F.cross_entropy` with its default
    /// mean reduction, as a scalar tensor.
    ///
    /// One op each way (log-softmax and the label pick forward, `(softmax − one_hot) / rows`
    /// backward) instead of the five a composition takes: one kernel on the CPU; the GPU back
    /// end composes `log_softmax`, `gather` and a mean inside it, counted as one launch.
    ///
    /// ```
    /// # use graft_engine::Tensor;
    /// let logits = Tensor::from_vec(vec![2.0, 0.0, 0.0, 2.0], &[2, 2])?;
    /// let loss = logits.cross_entropy(&[0, 1])?.to_scalar()?;
    /// assert!((loss - (1.0 + (-2f32).exp()).ln()).abs() < 1e-6);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn cross_entropy(&self, labels: &[usize]) -> Result<Tensor> {
        const OP: &str = "cross_entropy";
        if self.rank() != 2 || self.shape()[0] != labels.len() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().to_vec(),
                rhs: vec![labels.len()],
                hint: "logits must be [n, classes] with one label per row".into(),
            });
        }
        super::gather::check_indices(OP, labels, self.shape()[1])?;
        if labels.is_empty() {
            // An empty batch keeps the composed path's answer (the mean of nothing is NaN).
            return self.log_softmax(1)?.gather(1, labels, &[labels.len(), 1])?.mean_all()?.neg();
        }
        let (rows, classes) = (labels.len(), self.shape()[1]);
        let (out, lsm) = self.storage().cross_entropy(labels, classes)?;
        let labels = Arc::new(labels.to_vec());
        Ok(Tensor::from_op(out, Vec::new(), OP, &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = lsm.cross_entropy_backward(&labels, &g.storage())?;
                Ok(vec![Some(Tensor::from_storage(dx, &[rows, classes])?)])
            }
        }))
    }

    fn softmax_impl(&self, axis: isize, log: bool) -> Result<Tensor> {
        let name = if log { "log_softmax" } else { "softmax" };
        let split = AxisSplit::new(self.shape(), self.axis(name, axis)?);
        let out = self.storage().softmax(log, split)?;
        let y = Tensor::from_parts(out.clone(), self.shape().to_vec(), None);
        Ok(Tensor::from_op(out, self.shape().to_vec(), name, &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = y.storage().softmax_backward(log, &g.storage(), split)?;
                Ok(vec![Some(Tensor::from_storage(dx, y.shape())?)])
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    #[test]
    fn softmax_rows_sum_to_one_and_match_log_softmax() {
        let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0], &[2, 3]).unwrap();
        let s = x.softmax(1).unwrap().to_vec().unwrap();
        assert!((s[0] + s[1] + s[2] - 1.0).abs() < 1e-6);
        assert!((s[2] - 0.665_240_94).abs() < 1e-6);
        let ls = x.log_softmax(-1).unwrap().to_vec().unwrap();
        for (a, b) in s.iter().zip(&ls) {
            assert!((a.ln() - b).abs() < 1e-6);
        }
    }

    #[test]
    fn softmax_family_passes_the_gradient_check_on_every_axis() {
        let mut rng = Rng::new(6);
        for shape in [vec![4], vec![3, 5], vec![2, 3, 4], vec![2, 1]] {
            let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
            for axis in 0..shape.len() as isize {
                check_gradients(|t| t[0].softmax(axis), std::slice::from_ref(&x), GradCheck::default()).unwrap();
                check_gradients(|t| t[0].log_softmax(axis), std::slice::from_ref(&x), GradCheck::default()).unwrap();
            }
        }
    }

    #[test]
    fn cross_entropy_matches_its_composition_and_passes_the_gradient_check() {
        let mut rng = Rng::new(7);
        let x = Tensor::randn(&[6, 5], 0.0, 3.0, &mut rng);
        x.set_requires_grad(true).unwrap();
        let labels = [4, 0, 1, 1, 3, 2];
        let fused = x.cross_entropy(&labels).unwrap();
        let composed =
            x.log_softmax(1).unwrap().gather(1, &labels, &[6, 1]).unwrap().mean_all().unwrap().neg().unwrap();
        assert!(fused.shape().is_empty());
        assert!((fused.to_scalar().unwrap() - composed.to_scalar().unwrap()).abs() < 1e-6);
        // The fused backward against the composed one, then against finite differences (with a
        // loss gradient other than 1, which the rule must scale by).
        fused.backward().unwrap();
        let fused_grad = x.grad().unwrap().to_vec().unwrap();
        x.zero_grad();
        composed.backward().unwrap();
        for (a, b) in fused_grad.iter().zip(x.grad().unwrap().to_vec().unwrap()) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        check_gradients(|t| t[0].cross_entropy(&labels)?.mul_scalar(3.0), &[x.detach()], GradCheck::default()).unwrap();
    }

    #[test]
    fn cross_entropy_names_bad_labels_and_shapes() {
        let x = Tensor::zeros(&[2, 3]);
        let err = x.cross_entropy(&[0, 3]).unwrap_err().to_string();
        assert!(err.contains("cross_entropy") && err.contains("index 3"), "{err}");
        let err = x.cross_entropy(&[0]).unwrap_err().to_string();
        assert!(err.contains("one label per row"), "{err}");
        assert!(Tensor::zeros(&[0, 3]).cross_entropy(&[]).unwrap().to_scalar().unwrap().is_nan());
    }
}
