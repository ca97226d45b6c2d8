//! Multi-head scaled dot-product attention with a key padding mask, as one op: what a
//! transformer encoder layer computes between its query/key/value projections and its output
//! projection (PyTorch's `F.scaled_dot_product_attention` on heads split out of the last axis,
//! with `attn_mask` built from a key padding mask).
//!
//! Per head: `P = softmax(q·kᵀ/√d` over the attended keys`)`, `out = P·v`. Derivatives:
//! `∂v = Pᵀ·g`, `∂P = g·vᵀ`, `∂S = P ⊙ (∂P − rowsum(P ⊙ ∂P))`, `∂q = ∂S·k/√d`,
//! `∂k = ∂Sᵀ·q/√d`. The forward keeps `P` for the backward. The mask is data, not a parameter:
//! no gradient flows to it.

use crate::{Error, Result, Tensor};
use graft_kernels::cpu::AttentionShape;

const OP: &str = "attention";

impl Tensor {
    /// Multi-head attention of the queries `self` over the keys `k` and values `v`, all
    /// `[batch, seq, hidden]` with `heads` heads side by side in the last axis (`hidden` a
    /// multiple of `heads`), as the query, key and value projections give them. `key_mask`
    /// `[batch, seq]` says which keys each batch entry attends to (1 = token, 0 = padding, as a
    /// Hugging Face `attention_mask`); `None` attends to every key. Returns the context
    /// `[batch, seq, hidden]`, heads side by side again. A query whose keys are all masked gets
    /// a zero context.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// // One token attending to two keys; the second is padding, so the output is the first value.
    /// let q = Tensor::from_vec(vec![1.0, 0.0], &[1, 2, 1])?;
    /// let v = Tensor::from_vec(vec![5.0, 7.0], &[1, 2, 1])?;
    /// let mask = Tensor::from_vec(vec![1.0, 0.0], &[1, 2])?;
    /// assert_eq!(q.attention(&q, &v, Some(&mask), 1)?.to_vec()?, vec![5.0, 5.0]);
    /// # Ok::<(), graft_engine::Error>(())
    /// ```
    pub fn attention(&self, k: &Tensor, v: &Tensor, key_mask: Option<&Tensor>, heads: usize) -> Result<Tensor> {
        let s = attention_shape(self, k, v, key_mask, heads)?;
        let mask = match key_mask {
            Some(m) => m.detach(),
            None => Tensor::ones(&[s.batch, s.seq]).to_device(&self.device())?,
        };
        let (madds, scores) = (s.madds() as u64, s.probs_len() as u64);
        let (out, probs) =
            self.storage().attention(&k.storage(), &v.storage(), &mask.storage(), s, 2 * madds + 5 * scores)?;
        let (q, kd, vd) = (self.detach(), k.detach(), v.detach());
        Ok(Tensor::from_op(out, self.shape().to_vec(), OP, &[self, k, v], move || {
            move |g: &Tensor, needs: &[bool]| {
                let grads = q.storage().attention_backward(
                    [&kd.storage(), &vd.storage(), &mask.storage()],
                    &probs,
                    &g.storage(),
                    s,
                    4 * madds + 5 * scores,
                )?;
                let shaped =
                    |(d, &need): (crate::Storage, &bool)| need.then(|| Tensor::from_storage(d, q.shape())).transpose();
                grads.into_iter().zip(needs).map(shaped).collect()
            }
        }))
    }
}

/// The sizes of an attention call, or an error naming what does not fit.
fn attention_shape(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, heads: usize) -> Result<AttentionShape> {
    let [batch, seq, hidden] = *q.shape() else {
        return Err(Error::BadShape {
            op: OP,
            shape: q.shape().to_vec(),
            reason: "queries are [batch, seq, hidden]".into(),
        });
    };
    for (what, t) in [("keys", k), ("values", v)] {
        if t.shape() != q.shape() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: q.shape().to_vec(),
                rhs: t.shape().to_vec(),
                hint: format!("the {what} must have the queries' shape [batch, seq, hidden]"),
            });
        }
    }
    if heads == 0 || !hidden.is_multiple_of(heads) || seq == 0 {
        return Err(Error::BadShape {
            op: OP,
            shape: q.shape().to_vec(),
            reason: format!(
                "{hidden} features do not split into {heads} heads (need a positive divisor), or there are no tokens"
            ),
        });
    }
    if let Some(m) = mask {
        if m.shape() != [batch, seq] {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: q.shape().to_vec(),
                rhs: m.shape().to_vec(),
                hint: format!("the key mask is [batch, seq] = [{batch}, {seq}], 1 at tokens and 0 at padding"),
            });
        }
    }
    Ok(AttentionShape { batch, seq, heads, head_dim: hidden / heads })
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Result, Rng, Tensor};

    /// The composition the op replaces: split heads, scores, additive mask, softmax, context.
    fn composed(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>, heads: usize) -> Result<Tensor> {
        let [b, t, h] = *q.shape() else { unreachable!("rank 3 in these tests") };
        let split = |x: &Tensor| x.reshape(&[b, t, heads, h / heads])?.permute(&[0, 2, 1, 3]);
        let mut scores = split(q)?.matmul_t(&split(k)?, false, true)?.mul_scalar(1.0 / ((h / heads) as f32).sqrt())?;
        if let Some(m) = mask {
            scores = scores.add(&m.add_scalar(-1.0)?.mul_scalar(1e9)?.reshape(&[b, 1, 1, t])?)?;
        }
        scores.softmax(-1)?.matmul(&split(v)?)?.permute(&[0, 2, 1, 3])?.reshape(&[b, t, h])
    }

    fn inputs(shape: [usize; 3], seed: u64) -> [Tensor; 3] {
        let mut rng = Rng::new(seed);
        [0, 1, 2].map(|_| Tensor::randn(&shape, 0.0, 1.0, &mut rng))
    }

    #[test]
    fn equals_the_composition_with_and_without_a_mask() {
        for (shape, heads) in [([1, 1, 1], 1), ([2, 5, 6], 3), ([3, 9, 8], 2), ([2, 64, 384], 12)] {
            let [q, k, v] = inputs(shape, 7);
            let keep: Vec<f32> = (0..shape[0] * shape[1])
                .map(|i| if i % shape[1] < shape[1] - i / shape[1] { 1.0 } else { 0.0 })
                .collect();
            let mask = Tensor::from_vec(keep, &shape[..2]).unwrap();
            for m in [None, Some(&mask)] {
                let got = q.attention(&k, &v, m, heads).unwrap().to_vec().unwrap();
                let want = composed(&q, &k, &v, m, heads).unwrap().to_vec().unwrap();
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() < 1e-4, "{shape:?}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn passes_the_gradient_check_with_padding() {
        let [q, k, v] = inputs([2, 4, 6], 8);
        let mask = Tensor::from_vec(vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], &[2, 4]).unwrap();
        check_gradients(|t| t[0].attention(&t[1], &t[2], Some(&mask), 3), &[q, k, v], GradCheck::default()).unwrap();
    }

    #[test]
    fn only_the_inputs_that_need_it_get_a_gradient() {
        let [q, k, v] = inputs([1, 3, 4], 9);
        let v = v.requires_grad_(true).unwrap();
        q.attention(&k, &v, None, 2).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(q.grad().is_none() && k.grad().is_none());
        // ∂Σout/∂v[j, d] = Σ_i P[i, j], and every query's weights sum to 1: each feature's
        // gradients over the keys add up to the number of queries.
        let g = v.grad().unwrap().sum(1, false).unwrap().to_vec().unwrap();
        for g in g {
            assert!((g - 3.0).abs() < 1e-5, "{g}");
        }
    }

    #[test]
    fn mismatched_shapes_and_bad_heads_are_refused() {
        let [q, k, _] = inputs([2, 3, 4], 10);
        let e = q.attention(&k, &Tensor::zeros(&[2, 3, 5]), None, 2).unwrap_err().to_string();
        assert!(e.contains("attention") && e.contains("values"), "{e}");
        let e = q.attention(&k, &k, None, 3).unwrap_err().to_string();
        assert!(e.contains("3 heads"), "{e}");
        let e = q.attention(&k, &k, Some(&Tensor::ones(&[2, 4])), 2).unwrap_err().to_string();
        assert!(e.contains("key mask"), "{e}");
        let e = Tensor::zeros(&[3, 4]).attention(&k, &k, None, 2).unwrap_err().to_string();
        assert!(e.contains("[batch, seq, hidden]"), "{e}");
    }
}
