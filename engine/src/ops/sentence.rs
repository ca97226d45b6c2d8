//! The ops of a sentence encoder's ends: the sum of embedding lookups that starts it (BERT's
//! word + position + token-type embeddings), and the masked mean pooling and L2 normalisation
//! that end it (sentence-transformers' pooling).
//!
//! Derivatives: embedding sum → each table gets `g`'s rows added back at its indices (as
//! `index_select`); masked mean → `∂h[b,t] = mask[b,t]·g[b] / max(Σ_t mask[b,t], 1e-9)`, no
//! gradient to the mask; L2 normalisation, `y = x/max(‖x‖, eps)` → `∂x = (g − y·(y·g))/‖x‖`, or
//! `g/eps` where the norm was clamped.

use super::gather::check_indices;
use crate::{Error, Result, Storage, Tensor};
use graft_kernels::AxisSplit;
use std::sync::Arc;

impl Tensor {
    /// `[n, hidden]`: for each output row `i`, `Σ_t tables[t][indices[t][i]]`, in one pass
    /// (the tables `[rows_t, hidden]`, every index list `n` long). Equals the sum of
    /// [`index_select`](Tensor::index_select)s, with one kernel instead of one per table and
    /// one per addition.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let words = Tensor::from_vec(vec![1.0, 2.0, 10.0, 20.0], &[2, 2])?;
    /// let positions = Tensor::from_vec(vec![100.0, 200.0], &[1, 2])?;
    /// let e = Tensor::embedding_sum(&[(&words, &[1, 0]), (&positions, &[0, 0])])?;
    /// assert_eq!(e.to_vec()?, vec![110.0, 220.0, 101.0, 202.0]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn embedding_sum(lookups: &[(&Tensor, &[usize])]) -> Result<Tensor> {
        const OP: &str = "embedding_sum";
        let Some(&(first, first_idx)) = lookups.first() else {
            return Err(Error::BadShape { op: OP, shape: vec![], reason: "give at least one (table, indices)".into() });
        };
        let (n, hidden) = (first_idx.len(), first.shape().last().copied().unwrap_or(0));
        for (t, idx) in lookups {
            if t.rank() != 2 || t.shape()[1] != hidden || idx.len() != n {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    hint: format!("every table is [rows, {hidden}] and every index list {n} long"),
                });
            }
            check_indices(OP, idx, t.shape()[0])?;
        }
        let storages: Vec<_> = lookups.iter().map(|(t, _)| t.storage()).collect();
        let indices: Vec<&[usize]> = lookups.iter().map(|(_, i)| *i).collect();
        let out = Storage::embedding_sum(&storages.iter().collect::<Vec<_>>(), &indices, hidden)?;
        let kept: Vec<(Arc<Vec<usize>>, Vec<usize>)> =
            lookups.iter().map(|(t, i)| (Arc::new(i.to_vec()), t.shape().to_vec())).collect();
        let inputs: Vec<&Tensor> = lookups.iter().map(|(t, _)| *t).collect();
        Ok(Tensor::from_op(out, vec![n, hidden], OP, &inputs, move || {
            move |g: &Tensor, needs: &[bool]| {
                let grad = |((idx, shape), &need): (&(Arc<Vec<usize>>, Vec<usize>), &bool)| {
                    need.then(|| {
                        let split = AxisSplit::new(shape, 0);
                        Tensor::from_storage(g.storage().index_select_backward(split, idx)?, shape)
                    })
                    .transpose()
                };
                kept.iter().zip(needs).map(grad).collect()
            }
        }))
    }

    /// The mean of `self` `[batch, seq, hidden]` over the tokens, weighted by `mask`
    /// `[batch, seq]` (1 = token, 0 = padding): `[batch, hidden]`, sentence-transformers' mean
    /// pooling. The count is clamped to 1e-9, so an entry without tokens pools to 0.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let h = Tensor::from_vec(vec![1.0, 3.0, 100.0], &[1, 3, 1])?;
    /// let mask = Tensor::from_vec(vec![1.0, 1.0, 0.0], &[1, 3])?;
    /// assert_eq!(h.masked_mean(&mask)?.to_vec()?, vec![2.0]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn masked_mean(&self, mask: &Tensor) -> Result<Tensor> {
        const OP: &str = "masked_mean";
        let (&[b, t, n], m) = (self.shape(), mask.shape()) else {
            return Err(Error::BadShape {
                op: OP,
                shape: self.shape().to_vec(),
                reason: "hidden states are [batch, seq, hidden]".into(),
            });
        };
        if m != [b, t] {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().to_vec(),
                rhs: m.to_vec(),
                hint: format!("the mask is [batch, seq] = [{b}, {t}]"),
            });
        }
        let shape = [b, t, n];
        let out = self.storage().masked_mean(&mask.storage(), shape)?;
        let mask = mask.detach();
        Ok(Tensor::from_op(out, vec![b, n], OP, &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dh = mask.storage().masked_mean_backward(&g.storage(), shape)?;
                Ok(vec![Some(Tensor::from_storage(dh, &shape)?)])
            }
        }))
    }

    /// Each row along the last axis divided by its Euclidean norm, or by `eps` where the norm
    /// is smaller (PyTorch's `F.normalize(x, p=2, dim=-1, eps=eps)`; sentence-transformers uses
    /// 1e-12).
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let x = Tensor::from_vec(vec![3.0, 4.0], &[1, 2])?;
    /// assert_eq!(x.l2_normalize(1e-12)?.to_vec()?, vec![0.6, 0.8]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn l2_normalize(&self, eps: f32) -> Result<Tensor> {
        const OP: &str = "l2_normalize";
        let len = self.shape().last().copied().unwrap_or(0);
        if self.rank() == 0 || len == 0 || !(eps > 0.0 && eps.is_finite()) {
            return Err(Error::BadShape {
                op: OP,
                shape: self.shape().to_vec(),
                reason: format!("rows along a last axis of ≥ 1 feature, and a finite eps > 0 (got {eps})"),
            });
        }
        let (out, norms) = self.storage().l2_normalize(len, eps)?;
        let y = Tensor::from_storage(out.clone(), self.shape())?;
        Ok(Tensor::from_op(out, self.shape().to_vec(), OP, &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = y.storage().l2_normalize_backward(&norms, &g.storage(), eps)?;
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
    fn embedding_sum_equals_the_selects_and_passes_the_gradient_check() {
        let mut rng = Rng::new(11);
        let (a, b) = (Tensor::randn(&[5, 3], 0.0, 1.0, &mut rng), Tensor::randn(&[2, 3], 0.0, 1.0, &mut rng));
        let (ia, ib): (&[usize], &[usize]) = (&[4, 0, 4, 2], &[1, 0, 0, 1]);
        let got = Tensor::embedding_sum(&[(&a, ia), (&b, ib)]).unwrap();
        let want = a.index_select(0, ia).unwrap().add(&b.index_select(0, ib).unwrap()).unwrap();
        assert_eq!(got.to_vec().unwrap(), want.to_vec().unwrap());
        check_gradients(|t| Tensor::embedding_sum(&[(&t[0], ia), (&t[1], ib)]), &[a, b], GradCheck::default()).unwrap();
    }

    #[test]
    fn embedding_sum_refuses_bad_rows_and_ragged_indices() {
        let (a, b) = (Tensor::zeros(&[2, 3]), Tensor::zeros(&[2, 4]));
        let e = Tensor::embedding_sum(&[(&a, &[2])]).unwrap_err().to_string();
        assert!(e.contains("embedding_sum") && e.contains('2'), "{e}");
        let e = Tensor::embedding_sum(&[(&a, &[0]), (&b, &[0])]).unwrap_err().to_string();
        assert!(e.contains("[rows, 3]"), "{e}");
        assert!(Tensor::embedding_sum(&[(&a, &[0]), (&a, &[0, 1])]).is_err());
        assert!(Tensor::embedding_sum(&[]).is_err());
    }

    #[test]
    fn masked_mean_and_l2_normalize_pass_the_gradient_check() {
        let mut rng = Rng::new(12);
        let h = Tensor::randn(&[2, 4, 3], 0.0, 1.0, &mut rng);
        let mask = Tensor::from_vec(vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0], &[2, 4]).unwrap();
        check_gradients(|t| t[0].masked_mean(&mask)?.l2_normalize(1e-12), &[h], GradCheck::default()).unwrap();
    }

    #[test]
    fn masked_mean_equals_the_composition_and_refuses_bad_masks() {
        let h = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[2, 3, 2]).unwrap();
        let mask = Tensor::from_vec(vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0], &[2, 3]).unwrap();
        assert_eq!(h.masked_mean(&mask).unwrap().to_vec().unwrap(), vec![1.0, 2.0, 0.0, 0.0]);
        let e = h.masked_mean(&Tensor::ones(&[2, 2])).unwrap_err().to_string();
        assert!(e.contains("masked_mean") && e.contains("[2, 3]"), "{e}");
        assert!(Tensor::zeros(&[2, 3]).masked_mean(&mask).is_err());
    }

    #[test]
    fn l2_normalize_clamps_small_norms_and_refuses_bad_eps() {
        let x = Tensor::from_vec(vec![3.0, 4.0, 0.0, 0.0], &[2, 2]).unwrap();
        assert_eq!(x.l2_normalize(1e-12).unwrap().to_vec().unwrap(), vec![0.6, 0.8, 0.0, 0.0]);
        let tiny = Tensor::from_vec(vec![1e-3, 0.0], &[1, 2]).unwrap();
        check_gradients(|t| t[0].l2_normalize(0.1), &[tiny], GradCheck::default()).unwrap();
        assert!(x.l2_normalize(0.0).unwrap_err().to_string().contains("eps"));
        assert!(Tensor::scalar(1.0).l2_normalize(1e-12).is_err());
    }
}
