//! In-place updates for optimisers: `p ← p + α·g` and `v ← β·v + g` in one pass, without the
//! temporaries (and passes over memory) of `p.set_data(&p.sub(&g.mul_scalar(lr)?)?)`.
//!
//! Like [`Tensor::set_data`], an update changes the values every clone of the tensor sees and
//! records no history. When the buffer is shared — a graph recorded before the update still
//! holds the old values, as PyTorch's saved tensors do — the result goes to a new buffer and the
//! holders keep the values they captured (copy on write); otherwise it is written in place.

use crate::{Error, Result, Tensor};

impl Tensor {
    /// `self ← self + alpha · other`, PyTorch's `self.add_(other, alpha=alpha)`: the SGD step
    /// is `p.add_scaled_(&grad, -lr)`.
    ///
    /// ```
    /// use graft_engine::Tensor;
    /// let p = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    /// p.add_scaled_(&Tensor::from_vec(vec![10.0, 20.0], &[2]).unwrap(), -0.1).unwrap();
    /// assert_eq!(p.to_vec().unwrap(), vec![0.0, 0.0]);
    /// ```
    pub fn add_scaled_(&self, other: &Tensor, alpha: f32) -> Result<()> {
        self.axpby_("add_scaled_", 1.0, other, alpha)
    }

    /// `self ← beta · self + other`, PyTorch's `self.mul_(beta).add_(other)`: a momentum
    /// buffer's update.
    pub fn scale_and_add_(&self, beta: f32, other: &Tensor) -> Result<()> {
        self.axpby_("scale_and_add_", beta, other, 1.0)
    }

    /// `self ← alpha · self + beta · other`.
    fn axpby_(&self, op: &'static str, alpha: f32, other: &Tensor, beta: f32) -> Result<()> {
        if other.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
                hint: "an in-place update needs an operand of the tensor's own shape".into(),
            });
        }
        let x = other.storage();
        // One fused pass on the back end, under the slot's lock (see `BackendStorage::axpby_`).
        self.with_storage_mut(|slot| slot.axpby_(op, alpha, &x, beta))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    /// Where a CPU tensor's buffer lives, and its element 5.
    fn host(t: &Tensor) -> (*const f32, f32) {
        let s = t.storage();
        let b = s.as_host().expect("the test's tensors are on the CPU");
        (b.as_ptr(), b[5])
    }

    #[test]
    fn updates_write_in_place_when_unshared_and_copy_when_a_graph_holds_the_values() {
        let n = crate::POOLED_MIN_LEN + 3;
        let p = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n]).unwrap();
        let g = Tensor::full(&[n], 2.0);
        // A detached copy shares the buffer, as a recorded graph's saved inputs do: the update
        // goes to a new buffer and the copy keeps its values.
        let saved = p.detach();
        p.add_scaled_(&g, -0.5).unwrap();
        assert_eq!(host(&saved).1, 5.0);
        assert_eq!(host(&p).1, 4.0);
        drop(saved);
        let (ptr, _) = host(&p);
        p.scale_and_add_(0.5, &g).unwrap();
        assert_eq!(host(&p), (ptr, 4.0), "an unshared buffer is updated in place");
        let err = p.add_scaled_(&Tensor::zeros(&[2]), 1.0).unwrap_err().to_string();
        assert!(err.contains("add_scaled_") && err.contains("own shape"), "{err}");
    }
}
