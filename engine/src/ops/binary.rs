//! Elementwise functions of two tensors, with NumPy broadcasting.
//!
//! Derivatives, each reduced back to its operand's shape (`sum_to`) when it was broadcast:
//! add → (g, g); sub → (g, −g); mul → (g·b, g·a); div → (g/b, −g·y/b);
//! pow → (g·b·aᵇ⁻¹, g·y·ln a); maximum → g to the larger operand, split evenly on ties;
//! minimum likewise. Comparisons have no gradient.

use crate::{Error, Result, Tensor};
use graft_kernels::{broadcast_shape, BinaryOp};

impl Tensor {
    /// Applies an elementwise [`BinaryOp`] with broadcasting.
    pub fn binary(&self, op: BinaryOp, rhs: &Tensor) -> Result<Tensor> {
        let out_shape = broadcast_shape(self.shape(), rhs.shape()).ok_or_else(|| Error::ShapeMismatch {
            op: op.name(),
            lhs: self.shape().to_vec(),
            rhs: rhs.shape().to_vec(),
            hint: "trailing dimensions must be equal or 1 to broadcast".into(),
        })?;
        let out = self.storage().binary(op, self.shape(), &rhs.storage(), rhs.shape(), &out_shape)?;
        let is_comparison =
            matches!(op, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge);
        if is_comparison {
            return Tensor::from_storage(out, &out_shape);
        }
        let (a, b) = (self.detach(), rhs.detach());
        let y = Tensor::from_parts(out.clone(), out_shape.clone(), None);
        Ok(Tensor::from_op(out, out_shape, op.name(), &[self, rhs], move || {
            move |g: &Tensor, needs: &[bool]| binary_backward(op, &a, &b, &y, g, needs)
        }))
    }

    pub fn add(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Add, rhs)
    }
    pub fn sub(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Sub, rhs)
    }
    pub fn mul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Mul, rhs)
    }
    pub fn div(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Div, rhs)
    }
    /// `self ^ rhs` elementwise.
    pub fn pow(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Pow, rhs)
    }
    /// Elementwise maximum (NaN propagates).
    pub fn maximum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Max, rhs)
    }
    /// Elementwise minimum (NaN propagates).
    pub fn minimum(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Min, rhs)
    }
    /// 1.0 where equal, else 0.0.
    pub fn eq(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Eq, rhs)
    }
    pub fn ne(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Ne, rhs)
    }
    pub fn lt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Lt, rhs)
    }
    pub fn le(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Le, rhs)
    }
    pub fn gt(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Gt, rhs)
    }
    pub fn ge(&self, rhs: &Tensor) -> Result<Tensor> {
        self.binary(BinaryOp::Ge, rhs)
    }
}

fn binary_backward(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    y: &Tensor,
    g: &Tensor,
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let (ga, gb) = match op {
        BinaryOp::Add => (needs[0].then(|| Ok(g.clone())), needs[1].then(|| Ok(g.clone()))),
        BinaryOp::Sub => (needs[0].then(|| Ok(g.clone())), needs[1].then(|| g.neg())),
        BinaryOp::Mul => (needs[0].then(|| g.mul(b)), needs[1].then(|| g.mul(a))),
        BinaryOp::Div => (needs[0].then(|| g.div(b)), needs[1].then(|| g.mul(y)?.div(b)?.neg())),
        BinaryOp::Pow => {
            (needs[0].then(|| g.mul(b)?.mul(&a.pow(&b.add_scalar(-1.0)?)?)), needs[1].then(|| g.mul(y)?.mul(&a.log()?)))
        }
        BinaryOp::Max | BinaryOp::Min => {
            // Share of the gradient that goes to `a`: 1 where it wins, ½ on ties.
            let wins = if op == BinaryOp::Max { a.gt(b)? } else { a.lt(b)? };
            let share_a = wins.add(&a.eq(b)?.mul_scalar(0.5)?)?;
            (needs[0].then(|| g.mul(&share_a)), needs[1].then(|| g.mul(&share_a.neg()?.add_scalar(1.0)?)))
        }
        _ => unreachable!("comparisons record no backward node"),
    };
    let ga = ga.transpose()?.map(|t| t.sum_to(a.shape())).transpose()?;
    let gb = gb.transpose()?.map(|t| t.sum_to(b.shape())).transpose()?;
    Ok(vec![ga, gb])
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{BinaryOp, Rng, Tensor};

    #[test]
    fn broadcasting_matches_hand_computed_values() {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
        let col = Tensor::from_vec(vec![10.0, 20.0], &[2, 1]).unwrap();
        let row = Tensor::from_vec(vec![1.0, 0.0, -1.0], &[3]).unwrap();
        assert_eq!(a.add(&col).unwrap().to_vec().unwrap(), vec![11.0, 12.0, 13.0, 24.0, 25.0, 26.0]);
        assert_eq!(a.mul(&row).unwrap().to_vec().unwrap(), vec![1.0, 0.0, -3.0, 4.0, 0.0, -6.0]);
        let outer = col.mul(&row).unwrap();
        assert_eq!(outer.shape(), &[2, 3]);
        assert_eq!(outer.to_vec().unwrap(), vec![10.0, 0.0, -10.0, 20.0, 0.0, -20.0]);
        assert_eq!(a.sub(&Tensor::scalar(1.0)).unwrap().to_vec().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(a.ge(&Tensor::scalar(3.0)).unwrap().to_vec().unwrap(), vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn incompatible_shapes_name_the_op_and_both_shapes() {
        let a = Tensor::zeros(&[2, 3]);
        let b = Tensor::zeros(&[4]);
        let msg = a.add(&b).unwrap_err().to_string();
        assert!(msg.contains("add") && msg.contains("[2, 3]") && msg.contains("[4]"), "{msg}");
    }

    #[test]
    fn every_binary_op_passes_the_gradient_check_with_broadcasting() {
        let mut rng = Rng::new(2);
        let pairs: [(&[usize], &[usize]); 6] =
            [(&[3], &[3]), (&[2, 3], &[3]), (&[2, 1], &[1, 4]), (&[4, 1, 3], &[2, 1]), (&[1], &[2, 2]), (&[2, 3], &[])];
        for (sa, sb) in pairs {
            let a = Tensor::rand_uniform(sa, 0.5, 2.0, &mut rng);
            let b = Tensor::rand_uniform(sb, 0.5, 2.0, &mut rng).mul_scalar(1.1).unwrap();
            for op in [
                BinaryOp::Add,
                BinaryOp::Sub,
                BinaryOp::Mul,
                BinaryOp::Div,
                BinaryOp::Pow,
                BinaryOp::Max,
                BinaryOp::Min,
            ] {
                check_gradients(|t| t[0].binary(op, &t[1]), &[a.clone(), b.clone()], GradCheck::default())
                    .unwrap_or_else(|e| panic!("{op:?} {sa:?} {sb:?}: {e}"));
            }
        }
    }

    #[test]
    fn maximum_splits_the_gradient_on_ties() {
        let a = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap().requires_grad_(true).unwrap();
        let b = Tensor::from_vec(vec![3.0, 2.0, 1.0], &[3]).unwrap().requires_grad_(true).unwrap();
        a.maximum(&b).unwrap().sum_all().unwrap().backward().unwrap();
        assert_eq!(a.grad().unwrap().to_vec().unwrap(), vec![0.0, 0.5, 1.0]);
        assert_eq!(b.grad().unwrap().to_vec().unwrap(), vec![1.0, 0.5, 0.0]);
    }
}
