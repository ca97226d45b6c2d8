//! Index-based ops: `index_select` (rows of an embedding table) and `gather` (one element per
//! position along an axis, as `torch.gather`; the pick in negative log-likelihood).
//!
//! Derivatives: index_select → g added back into the selected rows (repeats add up);
//! gather → g scattered-and-added to the gathered positions.

use crate::{Error, Result, Tensor};
use graft_kernels::AxisSplit;
use std::sync::Arc;

impl Tensor {
    /// Picks the entries `indices` along `axis`; the output has `indices.len()` there.
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Result<Tensor> {
        let ax = self.axis("index_select", axis)?;
        check_indices("index_select", indices, self.shape()[ax])?;
        let split = AxisSplit::new(self.shape(), ax);
        let mut shape = self.shape().to_vec();
        shape[ax] = indices.len();
        let out = self.storage().index_select(split, indices)?;
        let (idx, in_shape) = (Arc::new(indices.to_vec()), self.shape().to_vec());
        Ok(Tensor::from_op(out, shape, "index_select", &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = g.storage().index_select_backward(split, &idx)?;
                Ok(vec![Some(Tensor::from_storage(dx, &in_shape)?)])
            }
        }))
    }

    /// `out[.., t, ..] = self[.., indices[.., t, ..], ..]` along `axis`, where `indices` has
    /// shape `index_shape` (equal to `self`'s except along `axis`).
    pub fn gather(&self, axis: isize, indices: &[usize], index_shape: &[usize]) -> Result<Tensor> {
        let ax = self.axis("gather", axis)?;
        let fits = index_shape.len() == self.rank()
            && (0..self.rank()).all(|d| d == ax || index_shape[d] == self.shape()[d])
            && indices.len() == index_shape.iter().product::<usize>();
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "gather",
                lhs: self.shape().to_vec(),
                rhs: index_shape.to_vec(),
                hint: format!("the index must match the input on every axis but {ax} and hold that many indices"),
            });
        }
        check_indices("gather", indices, self.shape()[ax])?;
        let split = AxisSplit::new(self.shape(), ax);
        let idx_len = index_shape[ax];
        let out = self.storage().gather(split, indices, idx_len)?;
        let (idx, in_shape) = (Arc::new(indices.to_vec()), self.shape().to_vec());
        Ok(Tensor::from_op(out, index_shape.to_vec(), "gather", &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = g.storage().gather_backward(split, &idx, idx_len)?;
                Ok(vec![Some(Tensor::from_storage(dx, &in_shape)?)])
            }
        }))
    }
}

pub(super) fn check_indices(op: &'static str, indices: &[usize], len: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(Error::IndexOutOfRange { op, index, len }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    #[test]
    fn index_ops_pick_the_right_entries_and_refuse_bad_indices() {
        let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[3, 2]).unwrap();
        assert_eq!(x.index_select(0, &[2, 2, 0]).unwrap().to_vec().unwrap(), vec![4.0, 5.0, 4.0, 5.0, 0.0, 1.0]);
        assert_eq!(x.gather(1, &[1, 0, 1], &[3, 1]).unwrap().to_vec().unwrap(), vec![1.0, 2.0, 5.0]);
        assert!(x.index_select(0, &[3]).unwrap_err().to_string().contains("index 3 is out of range"));
        assert!(x.gather(1, &[0, 0], &[2, 1]).unwrap_err().to_string().contains("gather"));
    }

    #[test]
    fn index_ops_pass_the_gradient_check() {
        let mut rng = Rng::new(9);
        let x = Tensor::randn(&[4, 3], 0.0, 1.0, &mut rng);
        check_gradients(|t| t[0].index_select(0, &[3, 0, 3, 1]), std::slice::from_ref(&x), GradCheck::default())
            .unwrap();
        check_gradients(|t| t[0].index_select(1, &[2]), std::slice::from_ref(&x), GradCheck::default()).unwrap();
        check_gradients(
            |t| t[0].gather(1, &[2, 0, 1, 1, 0, 0, 2, 2], &[4, 2]),
            std::slice::from_ref(&x),
            GradCheck::default(),
        )
        .unwrap();
        check_gradients(|t| t[0].gather(0, &[3, 0, 1], &[1, 3]), std::slice::from_ref(&x), GradCheck::default())
            .unwrap();
    }
}
