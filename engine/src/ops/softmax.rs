//! Softmax and log-softmax along an axis, each one fused kernel forward and one backward.
//!
//! Derivatives from the output y: softmax → y ⊙ (g − Σ g ⊙ y); log_softmax → g − eʸ Σ g.

use super::cpu_kernel_overwrite;
#[cfg(feature = "gpu")]
use super::{ctx, gpu_kernel, mixed};
use crate::{Result, Storage, Tensor};
#[cfg(feature = "gpu")]
use graft_kernels::gpu;
use graft_kernels::{cpu, AxisSplit};

impl Tensor {
    /// `exp(x) / Σ exp(x)` along `axis`, computed stably.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, false)
    }

    /// `log(softmax(x))` along `axis`, computed without forming the softmax.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_impl(axis, true)
    }

    fn softmax_impl(&self, axis: isize, log: bool) -> Result<Tensor> {
        let name = if log { "log_softmax" } else { "softmax" };
        let split = AxisSplit::new(self.shape(), self.axis(name, axis)?);
        let n = self.numel();
        let out = match self.storage() {
            Storage::Cpu(x) => cpu_kernel_overwrite(name, 5 * n as u64, n, |o| {
                if log {
                    cpu::log_softmax(&x, split, o)
                } else {
                    cpu::softmax(&x, split, o)
                }
            }),
            #[cfg(feature = "gpu")]
            Storage::Gpu(x) => gpu_kernel(name, 5 * n as u64, || {
                if log {
                    gpu::log_softmax(ctx(&x), &x, split)
                } else {
                    gpu::softmax(ctx(&x), &x, split)
                }
            })?,
        };
        let y = Tensor::from_parts(out.clone(), self.shape().to_vec(), None);
        Ok(Tensor::from_op(out, self.shape().to_vec(), name, &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                g.same_device(name, &y)?;
                let dx = match (y.storage(), g.storage()) {
                    (Storage::Cpu(y), Storage::Cpu(g)) => cpu_kernel_overwrite(name, 4 * n as u64, n, |o| {
                        if log {
                            cpu::log_softmax_backward(&y, &g, split, o)
                        } else {
                            cpu::softmax_backward(&y, &g, split, o)
                        }
                    }),
                    #[cfg(feature = "gpu")]
                    (Storage::Gpu(ys), Storage::Gpu(gs)) => gpu_kernel(name, 4 * n as u64, || {
                        if log {
                            gpu::log_softmax_backward(ctx(&ys), &ys, &gs, split)
                        } else {
                            gpu::softmax_backward(ctx(&ys), &ys, &gs, split)
                        }
                    })?,
                    #[cfg(feature = "gpu")]
                    _ => return Err(mixed(name, &[&y, g])),
                };
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
}
