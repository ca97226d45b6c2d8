//! Elementwise functions of one tensor.
//!
//! Derivatives (applied by one fused backward kernel, `kernels::cpu::unary_backward`):
//! neg → −1; exp → y; log → 1/x; sqrt → 1/(2y); abs → sign(x); relu → [x > 0];
//! leaky_relu → 1 or slope; sigmoid → y(1−y); tanh → 1−y²; gelu → Φ(x) + xφ(x);
//! recip → −y²; square → 2x; x·c → c; x+c → 1; xᶜ → c·xᶜ⁻¹.

use super::cpu_kernel_overwrite;
#[cfg(feature = "gpu")]
use super::{ctx, gpu_kernel, mixed};
use crate::{Result, Storage, Tensor};
#[cfg(feature = "gpu")]
use graft_kernels::gpu;
use graft_kernels::{cpu, UnaryOp};

impl Tensor {
    /// Applies an elementwise [`UnaryOp`].
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let n = self.numel();
        let out = match self.storage() {
            Storage::Cpu(x) => cpu_kernel_overwrite(op.name(), n as u64, n, |o| cpu::unary(op, &x, o)),
            #[cfg(feature = "gpu")]
            Storage::Gpu(x) => gpu_kernel(op.name(), n as u64, || gpu::unary(ctx(&x), op, &x))?,
        };
        let x = self.detach();
        let y = Tensor::from_parts(out.clone(), self.shape().to_vec(), None);
        Ok(Tensor::from_op(out, self.shape().to_vec(), op.name(), &[self], move || {
            move |g: &Tensor, _: &[bool]| Ok(vec![Some(unary_backward(op, &x, &y, g)?)])
        }))
    }

    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg)
    }
    pub fn exp(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Exp)
    }
    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Log)
    }
    pub fn sqrt(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sqrt)
    }
    pub fn abs(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Abs)
    }
    pub fn relu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Relu)
    }
    /// `x` for positive `x`, `slope * x` otherwise (PyTorch's default slope is 0.01).
    pub fn leaky_relu(&self, slope: f32) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }
    pub fn sigmoid(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sigmoid)
    }
    pub fn tanh(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Tanh)
    }
    /// GELU in its exact erf form (PyTorch's `nn.GELU()` default).
    pub fn gelu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Gelu)
    }
    pub fn recip(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Recip)
    }
    pub fn square(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Square)
    }
    pub fn mul_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary(UnaryOp::MulScalar(c))
    }
    pub fn add_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(c))
    }
    pub fn pow_scalar(&self, c: f32) -> Result<Tensor> {
        self.unary(UnaryOp::PowScalar(c))
    }
}

/// `dx = dy ⊙ op'(x)`, one fused kernel.
fn unary_backward(op: UnaryOp, x: &Tensor, y: &Tensor, dy: &Tensor) -> Result<Tensor> {
    let n = x.numel();
    dy.same_device(op.name(), x)?;
    let out = match (x.storage(), y.storage(), dy.storage()) {
        (Storage::Cpu(x), Storage::Cpu(y), Storage::Cpu(dy)) => {
            cpu_kernel_overwrite(op.name(), 2 * n as u64, n, |o| cpu::unary_backward(op, &x, &y, &dy, o))
        }
        #[cfg(feature = "gpu")]
        (Storage::Gpu(xs), Storage::Gpu(ys), Storage::Gpu(dys)) => {
            gpu_kernel(op.name(), 2 * n as u64, || gpu::unary_backward(ctx(&xs), op, &xs, &ys, &dys))?
        }
        #[cfg(feature = "gpu")]
        _ => return Err(mixed(op.name(), &[x, y, dy])),
    };
    Tensor::from_storage(out, x.shape())
}

#[cfg(test)]
mod tests {
    use crate::gradcheck::{check_gradients, GradCheck};
    use crate::{Rng, Tensor, UnaryOp};

    #[test]
    fn every_unary_op_passes_the_gradient_check() {
        let mut rng = Rng::new(1);
        let ops = [
            UnaryOp::Neg,
            UnaryOp::Exp,
            UnaryOp::Abs,
            UnaryOp::Relu,
            UnaryOp::LeakyRelu(0.1),
            UnaryOp::Sigmoid,
            UnaryOp::Tanh,
            UnaryOp::Gelu,
            UnaryOp::Square,
            UnaryOp::MulScalar(-2.5),
            UnaryOp::AddScalar(3.0),
        ];
        for shape in [vec![1], vec![3, 4], vec![2, 1, 5]] {
            // Values kept away from the kinks of relu/abs at 0.
            let x = Tensor::rand_uniform(&shape, 0.1, 1.5, &mut rng)
                .mul(
                    &Tensor::from_vec(
                        (0..shape.iter().product::<usize>()).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect(),
                        &shape,
                    )
                    .unwrap(),
                )
                .unwrap();
            for op in ops {
                check_gradients(|t| t[0].unary(op), std::slice::from_ref(&x), GradCheck::default())
                    .unwrap_or_else(|e| panic!("{op:?} on {shape:?}: {e}"));
            }
            // Ops defined for positive inputs only.
            let pos = x.abs().unwrap().add_scalar(0.2).unwrap();
            for op in [UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Recip, UnaryOp::PowScalar(1.7)] {
                check_gradients(|t| t[0].unary(op), std::slice::from_ref(&pos), GradCheck::default())
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
