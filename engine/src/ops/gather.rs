//! Index-based ops: `index_select` (rows of an embedding table) and `gather` (one element per
//! position along an axis, as `torch.gather`; the pick in negative log-likelihood).
//!
//! Derivatives: index_select → g added back into the selected rows (repeats add up);
//! gather → g scattered-and-added to the gathered positions.

use super::cpu_kernel;
#[cfg(feature = "gpu")]
use super::{ctx, gpu_kernel};
use crate::{Error, Result, Storage, Tensor};
#[cfg(feature = "gpu")]
use graft_kernels::gpu::{self, GpuBuffer};
use graft_kernels::{cpu, AxisSplit};
use std::sync::Arc;

impl Tensor {
    /// Picks the entries `indices` along `axis`; the output has `indices.len()` there.
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Result<Tensor> {
        let ax = self.axis("index_select", axis)?;
        check_indices("index_select", indices, self.shape()[ax])?;
        let split = AxisSplit::new(self.shape(), ax);
        let mut shape = self.shape().to_vec();
        shape[ax] = indices.len();
        let n: usize = shape.iter().product();
        let out = match self.storage() {
            Storage::Cpu(x) => cpu_kernel("index_select", 0, n, |o| cpu::index_select(&x, split, indices, o)),
            #[cfg(feature = "gpu")]
            Storage::Gpu(x) => gpu_kernel("index_select", 0, || gpu::index_select(ctx(&x), &x, split, indices))?,
        };
        let (idx, in_shape) = (Arc::new(indices.to_vec()), self.shape().to_vec());
        Ok(Tensor::from_op(out, shape, "index_select", &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = match g.storage() {
                    Storage::Cpu(gs) => cpu_kernel("index_select", gs.len() as u64, split.numel(), |o| {
                        cpu::index_add(o, split, &idx, &gs)
                    }),
                    #[cfg(feature = "gpu")]
                    Storage::Gpu(gs) => {
                        crate::stats::record("index_select", gs.len() as u64);
                        let dx = GpuBuffer::zeros(ctx(&gs), split.numel())?;
                        gpu::index_add(ctx(&gs), &dx, split, &idx, &gs)?;
                        Storage::Gpu(dx)
                    }
                };
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
        let out = match self.storage() {
            Storage::Cpu(x) => {
                cpu_kernel("gather", 0, indices.len(), |o| cpu::gather_axis(&x, split, indices, idx_len, o))
            }
            #[cfg(feature = "gpu")]
            Storage::Gpu(x) => gpu_kernel("gather", 0, || gpu::gather_axis(ctx(&x), &x, split, indices, idx_len))?,
        };
        let (idx, in_shape) = (Arc::new(indices.to_vec()), self.shape().to_vec());
        Ok(Tensor::from_op(out, index_shape.to_vec(), "gather", &[self], move || {
            move |g: &Tensor, _: &[bool]| {
                let dx = match g.storage() {
                    Storage::Cpu(gs) => cpu_kernel("gather", gs.len() as u64, split.numel(), |o| {
                        cpu::scatter_add_axis(o, split, &idx, idx_len, &gs)
                    }),
                    #[cfg(feature = "gpu")]
                    Storage::Gpu(gs) => {
                        crate::stats::record("gather", gs.len() as u64);
                        let dx = GpuBuffer::zeros(ctx(&gs), split.numel())?;
                        gpu::scatter_add_axis(ctx(&gs), &dx, split, &idx, idx_len, &gs)?;
                        Storage::Gpu(dx)
                    }
                };
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
