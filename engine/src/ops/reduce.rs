//! Reductions along an axis.
//!
//! Derivatives: sum → g broadcast back over the axis; mean → g/len broadcast back;
//! max/min → g shared evenly among the positions that attain the extreme (PyTorch's `amax`
//! rule); argmax/argmin have none.

use crate::{Error, Result, Tensor};
use graft_kernels::{AxisSplit, ReduceOp};

impl Tensor {
    /// Reduces `axis` with `op`; `keepdim` keeps it as size 1.
    pub fn reduce(&self, op: ReduceOp, axis: isize, keepdim: bool) -> Result<Tensor> {
        let ax = self.axis(op.name(), axis)?;
        let split = AxisSplit::new(self.shape(), ax);
        if op != ReduceOp::Sum && split.len == 0 {
            return Err(Error::BadShape {
                op: op.name(),
                shape: self.shape().to_vec(),
                reason: format!("axis {ax} is empty and has no {}", op.name()),
            });
        }
        let keep_shape = keepdim_shape(self.shape(), ax);
        let out = self.storage().reduce(op, split)?;
        let out_shape = if keepdim { keep_shape.clone() } else { dropdim_shape(self.shape(), ax) };
        let x = self.detach();
        let y = Tensor::from_parts(out.clone(), keep_shape.clone(), None);
        Ok(Tensor::from_op(out, out_shape, op.name(), &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let g = g.reshape(&keep_shape)?;
                let dx = match op {
                    ReduceOp::Sum => g.broadcast_to(x.shape())?,
                    ReduceOp::Max | ReduceOp::Min => {
                        let hits = x.eq(&y)?;
                        let count = hits.sum(ax as isize, true)?;
                        hits.mul(&g.div(&count)?)?
                    }
                };
                Ok(vec![Some(dx)])
            }
        }))
    }

    /// Sum over `axis`.
    pub fn sum(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, axis, keepdim)
    }

    /// Mean over `axis`.
    pub fn mean(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let len = self.dim(axis)?;
        self.sum(axis, keepdim)?.mul_scalar(1.0 / len as f32)
    }

    /// Maximum over `axis`.
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, axis, keepdim)
    }

    /// Minimum over `axis`.
    pub fn min(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, axis, keepdim)
    }

    /// Sum of all elements, as a 0-d tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])?.sum(0, false)
    }

    /// Mean of all elements, as a 0-d tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.sum_all()?.mul_scalar(1.0 / self.numel() as f32)
    }

    /// Index of the first maximum along `axis`, as f32 values (exact below 2²⁴).
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(true, axis, keepdim)
    }

    /// Index of the first minimum along `axis`.
    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(false, axis, keepdim)
    }

    fn arg_reduce(&self, want_max: bool, axis: isize, keepdim: bool) -> Result<Tensor> {
        let op = if want_max { "argmax" } else { "argmin" };
        let ax = self.axis(op, axis)?;
        let split = AxisSplit::new(self.shape(), ax);
        if split.len == 0 {
            return Err(Error::BadShape { op, shape: self.shape().to_vec(), reason: format!("axis {ax} is empty") });
        }
        let out = self.storage().arg_reduce(op, want_max, split)?;
        let shape = if keepdim { keepdim_shape(self.shape(), ax) } else { dropdim_shape(self.shape(), ax) };
        Tensor::from_storage(out, &shape)
    }

    /// Sums this tensor down to `shape`, which it must broadcast from: the adjoint of
    /// broadcasting, used by every backward rule whose operand was broadcast.
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let bad = || Error::ShapeMismatch {
            op: "sum_to",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
            hint: "the target must broadcast to the tensor's shape".into(),
        };
        let extra = self.rank().checked_sub(shape.len()).ok_or_else(bad)?;
        let mut t = self.clone();
        for _ in 0..extra {
            t = t.sum(0, false)?;
        }
        for (i, &d) in shape.iter().enumerate() {
            if d == 1 && t.shape()[i] != 1 {
                t = t.sum(i as isize, true)?;
            } else if d != t.shape()[i] {
                return Err(bad());
            }
        }
        Ok(t)
    }
}

fn keepdim_shape(shape: &[usize], ax: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s[ax] = 1;
    s
}

fn dropdim_shape(shape: &[usize], ax: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    s.remove(ax);
    s
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor};

    fn t234() -> Tensor {
        Tensor::from_vec((0..24).map(|v| v as f32).collect(), &[2, 3, 4]).unwrap()
    }

    #[test]
    fn reductions_over_every_axis_match_hand_computed_values() {
        let x = t234();
        let s0 = x.sum(0, false).unwrap();
        assert_eq!(s0.shape(), &[3, 4]);
        assert_eq!(s0.to_vec().unwrap()[..4], [12.0, 14.0, 16.0, 18.0]);
        let s1 = x.sum(1, true).unwrap();
        assert_eq!(s1.shape(), &[2, 1, 4]);
        assert_eq!(s1.to_vec().unwrap(), vec![12.0, 15.0, 18.0, 21.0, 48.0, 51.0, 54.0, 57.0]);
        let s2 = x.sum(-1, false).unwrap();
        assert_eq!(s2.to_vec().unwrap(), vec![6.0, 22.0, 38.0, 54.0, 70.0, 86.0]);
        assert_eq!(x.mean(2, false).unwrap().to_vec().unwrap()[0], 1.5);
        assert_eq!(x.max(1, false).unwrap().to_vec().unwrap(), vec![8.0, 9.0, 10.0, 11.0, 20.0, 21.0, 22.0, 23.0]);
        assert_eq!(x.min(0, false).unwrap().to_vec().unwrap(), (0..12).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(x.argmax(2, false).unwrap().to_vec().unwrap(), vec![3.0; 6]);
        assert_eq!(x.argmin(0, false).unwrap().to_vec().unwrap(), vec![0.0; 12]);
        assert_eq!(x.sum_all().unwrap().to_scalar().unwrap(), 276.0);
        assert_eq!(x.mean_all().unwrap().to_scalar().unwrap(), 11.5);
        assert!(x.sum(3, false).unwrap_err().to_string().contains("axis 3 is out of range"));
    }

    #[test]
    fn reductions_pass_the_gradient_check_on_every_axis() {
        let mut rng = Rng::new(3);
        for shape in [vec![5], vec![3, 1], vec![2, 3, 4]] {
            let x = Tensor::randn(&shape, 0.0, 1.0, &mut rng);
            for axis in 0..shape.len() as isize {
                for keep in [false, true] {
                    for f in [Tensor::sum, Tensor::mean, Tensor::max, Tensor::min] {
                        check_gradients(|t| f(&t[0], axis, keep), std::slice::from_ref(&x), GradCheck::default())
                            .unwrap_or_else(|e| panic!("{shape:?} axis {axis}: {e}"));
                    }
                }
            }
            check_gradients(|t| t[0].mean_all(), std::slice::from_ref(&x), GradCheck::default()).unwrap();
        }
    }

    #[test]
    fn max_shares_the_gradient_among_ties() {
        let x = Tensor::from_vec(vec![1.0, 3.0, 3.0], &[3]).unwrap().requires_grad_(true).unwrap();
        x.max(0, false).unwrap().backward().unwrap();
        assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![0.0, 0.5, 0.5]);
    }
}
