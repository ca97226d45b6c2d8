//! Elementwise functions of one tensor.
//!
//! Every op and its method (`neg`, `exp`, …, `leaky_relu(slope)`, `mul_scalar(c)`, …) comes from
//! the op table in `graft_kernels::unary_table` ([`graft_kernels::for_each_unary_op!`]): each
//! entry's doc line, with the op's derivative, is the method's doc and the [`UnaryOp`] variant's.
//! Derivatives are applied by one fused backward kernel (`kernels::cpu::unary_backward`, and its
//! WGSL twin), from the forward input `x` or output `y`, whichever is cheaper.

use crate::{Result, Tensor};
use graft_kernels::UnaryOp;

impl Tensor {
    /// Applies an elementwise [`UnaryOp`].
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let out = self.storage().unary(op)?;
        let x = self.detach();
        let y = Tensor::from_parts(out.clone(), self.shape().to_vec(), None);
        Ok(Tensor::from_op(out, self.shape().to_vec(), op.name(), &[self], move || {
            move |g: &Tensor, _: &[bool]| Ok(vec![Some(unary_backward(op, &x, &y, g)?)])
        }))
    }
}

/// One `Tensor` method per entry of the op table, named after the op, taking its scalar
/// parameter if it has one.
macro_rules! unary_methods {
    ($(
        $(#[doc = $doc:expr])*
        $variant:ident $(($param:ident : $pty:ty = $sample:expr))? => $name:ident { $($body:tt)* }
    )*) => {
        impl Tensor {
            $(
                $(#[doc = $doc])*
                pub fn $name(&self $(, $param: $pty)?) -> Result<Tensor> {
                    self.unary(UnaryOp::$variant $(($param))?)
                }
            )*
        }
    };
}

graft_kernels::for_each_unary_op!(unary_methods);

/// `dx = dy ⊙ op'(x)`, one fused kernel.
fn unary_backward(op: UnaryOp, x: &Tensor, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let out = x.storage().unary_backward(op, &y.storage(), &dy.storage())?;
    Tensor::from_storage(out, x.shape())
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor, UnaryOp};
    use graft_kernels::unary_table::Domain;

    /// Inputs on `op`'s domain: alternating signs (or positive only), magnitudes in [0.1, 1.5)
    /// (positive: [0.3, 1.7)), away from the kinks of relu/abs at 0.
    fn sample(op: UnaryOp, shape: &[usize], rng: &mut Rng) -> Tensor {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|i| match op.domain() {
                Domain::Real => rng.uniform(0.1, 1.5) * if i % 2 == 0 { 1.0 } else { -1.0 },
                Domain::Positive => rng.uniform(0.1, 1.5) + 0.2,
            })
            .collect();
        Tensor::from_vec(data, shape).unwrap()
    }

    #[test]
    fn every_unary_op_passes_the_gradient_check() {
        let mut rng = Rng::new(1);
        for shape in [vec![1], vec![3, 4], vec![2, 1, 5]] {
            for &op in UnaryOp::ALL {
                let x = sample(op, &shape, &mut rng);
                check_gradients(|t| t[0].unary(op), std::slice::from_ref(&x), GradCheck::default())
                    .unwrap_or_else(|e| panic!("{op:?} on {shape:?}: {e}"));
            }
        }
    }

    #[test]
    fn values_match_hand_computed_results() {
        let x = Tensor::from_vec(vec![-1.0, 0.0, 2.0], &[3]).unwrap();
        assert_eq!(x.relu().unwrap().to_vec().unwrap(), vec![0.0, 0.0, 2.0]);
        assert_eq!(x.neg().unwrap().to_vec().unwrap(), vec![1.0, -0.0, -2.0]);
        assert_eq!(x.square().unwrap().to_vec().unwrap(), vec![1.0, 0.0, 4.0]);
        assert_eq!(x.leaky_relu(0.5).unwrap().to_vec().unwrap(), vec![-0.5, 0.0, 2.0]);
    }
}
