//! The CPU back end: `graft_kernels::cpu` over host buffers from the pool.

use super::{frozen_weights, BackendStorage, ConvEpilogueOf, ConvGrads, CpuStorage, MatmulEpilogue};
use crate::{stats, HostBuffer, Result, Storage};
use graft_kernels::cpu::{self, AttentionShape, Conv2dGeometry, Epilogue, MatmulSpec, Pool2dGeometry};
use graft_kernels::{AxisSplit, BinaryOp, ReduceOp, UnaryOp};
use std::sync::Arc;

/// Runs a CPU kernel that fills a zeroed buffer of `len` elements (from the host pool),
/// counting one launch of `kind`. An empty result needs no work, so the kernel is not called for
/// one (several kernels split their output into per-image chunks, and a chunk of size 0 would
/// panic).
pub(crate) fn cpu_kernel(kind: &'static str, flops: u64, len: usize, f: impl FnOnce(&mut [f32])) -> Storage {
    run_cpu_kernel(kind, flops, HostBuffer::zeros(len), f)
}

/// [`cpu_kernel`] for kernels that write every output element without reading it first
/// (elementwise ops, softmax, copies, non-accumulating matmul): the buffer is not zeroed, which
/// saves a pass over memory.
pub(crate) fn cpu_kernel_overwrite(kind: &'static str, flops: u64, len: usize, f: impl FnOnce(&mut [f32])) -> Storage {
    run_cpu_kernel(kind, flops, HostBuffer::uninit_for_overwrite(len), f)
}

fn run_cpu_kernel(kind: &'static str, flops: u64, mut out: HostBuffer, f: impl FnOnce(&mut [f32])) -> Storage {
    stats::record(kind, flops);
    if !out.is_empty() {
        f(out.as_mut_slice());
    }
    Storage::Cpu(Arc::new(out))
}

impl BackendStorage for CpuStorage {
    fn unary(&self, op: UnaryOp) -> Result<Storage> {
        let n = self.len();
        Ok(cpu_kernel_overwrite(op.name(), n as u64, n, |o| cpu::unary(op, self, o)))
    }

    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Storage> {
        let n = self.len();
        Ok(cpu_kernel_overwrite(op.name(), 2 * n as u64, n, |o| cpu::unary_backward(op, self, y, dy, o)))
    }

    fn binary(
        &self,
        op: BinaryOp,
        shape: &[usize],
        rhs: &Self,
        rhs_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Storage> {
        let n: usize = out_shape.iter().product();
        Ok(cpu_kernel_overwrite(op.name(), n as u64, n, |o| cpu::binary(op, self, shape, rhs, rhs_shape, out_shape, o)))
    }

    fn reduce(&self, op: ReduceOp, split: AxisSplit) -> Result<Storage> {
        Ok(cpu_kernel_overwrite(op.name(), split.numel() as u64, split.outer * split.inner, |o| {
            cpu::reduce(op, self, split, o)
        }))
    }

    fn arg_reduce(&self, op: &'static str, want_max: bool, split: AxisSplit) -> Result<Storage> {
        Ok(cpu_kernel(op, split.numel() as u64, split.outer * split.inner, |o| {
            cpu::arg_reduce(want_max, self, split, o)
        }))
    }

    fn softmax(&self, log: bool, split: AxisSplit) -> Result<Storage> {
        let n = self.len();
        Ok(cpu_kernel_overwrite(super::softmax_name(log), 5 * n as u64, n, |o| {
            if log {
                cpu::log_softmax(self, split, o)
            } else {
                cpu::softmax(self, split, o)
            }
        }))
    }

    fn softmax_backward(&self, log: bool, g: &Self, split: AxisSplit) -> Result<Storage> {
        let n = self.len();
        Ok(cpu_kernel_overwrite(super::softmax_name(log), 4 * n as u64, n, |o| {
            if log {
                cpu::log_softmax_backward(self, g, split, o)
            } else {
                cpu::softmax_backward(self, g, split, o)
            }
        }))
    }

    fn cross_entropy(&self, labels: &[usize], classes: usize) -> Result<(Storage, Storage)> {
        let (rows, n) = (labels.len(), self.len());
        let split = AxisSplit::new(&[rows, classes], 1);
        let mut lsm = HostBuffer::uninit_for_overwrite(n);
        cpu::log_softmax(self, split, lsm.as_mut_slice());
        let out = cpu_kernel_overwrite("cross_entropy", 5 * n as u64 + rows as u64, 1, |o| {
            o[0] = cpu::cross_entropy(&lsm, labels)
        });
        Ok((out, Storage::Cpu(Arc::new(lsm))))
    }

    fn cross_entropy_backward(&self, labels: &[usize], g: &Self) -> Result<Storage> {
        let (rows, n) = (labels.len(), self.len());
        Ok(cpu_kernel_overwrite("cross_entropy", 3 * n as u64, n, |o| {
            cpu::cross_entropy_backward(self, labels, g[0] / rows as f32, o)
        }))
    }

    fn index_select(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        let n = split.outer * indices.len() * split.inner;
        Ok(cpu_kernel("index_select", 0, n, |o| cpu::index_select(self, split, indices, o)))
    }

    fn index_select_backward(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        Ok(cpu_kernel("index_select", self.len() as u64, split.numel(), |o| cpu::index_add(o, split, indices, self)))
    }

    fn gather(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        Ok(cpu_kernel("gather", 0, indices.len(), |o| cpu::gather_axis(self, split, indices, idx_len, o)))
    }

    fn gather_backward(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        Ok(cpu_kernel("gather", self.len() as u64, split.numel(), |o| {
            cpu::scatter_add_axis(o, split, indices, idx_len, self)
        }))
    }

    /// The GEMM with the bias and ReLU applied to each output tile while it is in L1. A frozen
    /// weight read transposed is multiplied through its kept transposed copy, which the GEMM
    /// reads without repacking (same values, same result).
    fn matmul(
        &self,
        b: &Self,
        spec: MatmulSpec,
        epilogue: MatmulEpilogue<'_, Self>,
        frozen_b: bool,
    ) -> Result<Storage> {
        let frozen = frozen_b && spec.trans_b && spec.k > 0;
        let bt = frozen.then(|| frozen_weights::transposed(b, spec.n, spec.k)).flatten();
        let (b, spec): (&[f32], _) = match &bt {
            Some(bt) => (bt, MatmulSpec { trans_b: false, ..spec }),
            None => (b, spec),
        };
        let epilogue = Epilogue { bias: epilogue.bias.map(|b| &b[..]), relu: epilogue.relu };
        let n_out = spec.batch * spec.m * spec.n;
        let kernel = |o: &mut [f32]| cpu::matmul_epilogue(self, b, epilogue, o, spec);
        // With k = 0 the product is all zeros (plus the bias); a zeroed buffer guarantees that
        // without relying on the GEMM's handling of an empty depth.
        Ok(if spec.k > 0 {
            cpu_kernel_overwrite("matmul", spec.flops(), n_out, kernel)
        } else {
            cpu_kernel("matmul", spec.flops(), n_out, kernel)
        })
    }

    fn relu_mask(&self, g: &Self) -> Result<Storage> {
        let n = self.len();
        Ok(cpu_kernel_overwrite("relu", n as u64, n, |o| cpu::unary_backward(UnaryOp::Relu, self, self, g, o)))
    }

    fn conv2d(&self, w: &Self, epi: ConvEpilogueOf<'_, Self>, g: &Conv2dGeometry) -> Result<Storage> {
        let (oh, ow) = (g.out_h().unwrap_or(0), g.out_w().unwrap_or(0));
        let epi = cpu::ConvEpilogue { bias: epi.bias.map(|b| &b[..]), scale: epi.scale.map(|s| &s[..]), act: epi.act };
        Ok(cpu_kernel_overwrite("conv2d", g.flops(), g.n * g.o * oh * ow, |o| cpu::conv2d_forward(self, w, &epi, g, o)))
    }

    fn conv2d_backward(&self, w: &Self, dy: &Self, g: &Conv2dGeometry, needs: [bool; 3]) -> Result<ConvGrads> {
        // Both backward kernels clear their outputs themselves.
        let dx = needs[0].then(|| {
            cpu_kernel_overwrite("conv2d", g.flops(), self.len(), |o| cpu::conv2d_backward_input(dy, w, g, o))
        });
        // The bias gradient is summed inside the weight gradient's pass.
        let (dw, db) = if needs[1] || needs[2] {
            let mut db = needs[2].then(|| vec![0.0; g.o]);
            let dw = cpu_kernel_overwrite("conv2d", g.flops(), w.len(), |o| {
                cpu::conv2d_backward_weight(dy, self, g, o, db.as_deref_mut())
            });
            (needs[1].then_some(dw), db.map(Storage::cpu))
        } else {
            (None, None)
        };
        Ok((dx, dw, db))
    }

    fn layer_norm(&self, w: &Self, b: &Self, eps: f32, flops: u64) -> Result<(Storage, Storage, Storage)> {
        let rows = self.len() / w.len().max(1);
        let (mut mean, mut rstd) = (HostBuffer::uninit_for_overwrite(rows), HostBuffer::uninit_for_overwrite(rows));
        let y = cpu_kernel_overwrite("layer_norm", flops, self.len(), |o| {
            cpu::layer_norm(self, w, b, eps, o, mean.as_mut_slice(), rstd.as_mut_slice())
        });
        Ok((y, Storage::Cpu(Arc::new(mean)), Storage::Cpu(Arc::new(rstd))))
    }

    fn layer_norm_backward(
        &self,
        w: &Self,
        [mean, rstd]: [&Self; 2],
        dy: &Self,
        flops: u64,
        needs: [bool; 3],
    ) -> Result<ConvGrads> {
        let n = w.len();
        let dx = needs[0].then(|| {
            cpu_kernel_overwrite("layer_norm", flops, self.len(), |o| {
                cpu::layer_norm_backward_input(self, w, mean, rstd, dy, o)
            })
        });
        let dw = needs[1].then(|| {
            cpu_kernel_overwrite("layer_norm", 3 * self.len() as u64, n, |o| {
                cpu::layer_norm_backward_weight(self, mean, rstd, dy, o)
            })
        });
        let db = needs[2]
            .then(|| cpu_kernel_overwrite("layer_norm", dy.len() as u64, n, |o| cpu::layer_norm_backward_bias(dy, o)));
        Ok((dx, dw, db))
    }

    fn attention(&self, k: &Self, v: &Self, mask: &Self, s: AttentionShape, flops: u64) -> Result<(Storage, Storage)> {
        let mut probs = HostBuffer::uninit_for_overwrite(s.probs_len());
        let out = cpu_kernel_overwrite("attention", flops, s.numel(), |o| {
            cpu::attention(self, k, v, mask, s, o, probs.as_mut_slice())
        });
        Ok((out, Storage::Cpu(Arc::new(probs))))
    }

    fn attention_backward(
        &self,
        [k, v, mask]: [&Self; 3],
        probs: &Self,
        dout: &Self,
        s: AttentionShape,
        flops: u64,
    ) -> Result<[Storage; 3]> {
        let (mut dk, mut dv) =
            (HostBuffer::uninit_for_overwrite(s.numel()), HostBuffer::uninit_for_overwrite(s.numel()));
        let dq = cpu_kernel_overwrite("attention", flops, s.numel(), |dq| {
            cpu::attention_backward(self, k, v, mask, probs, dout, s, [dq, dk.as_mut_slice(), dv.as_mut_slice()])
        });
        Ok([dq, Storage::Cpu(Arc::new(dk)), Storage::Cpu(Arc::new(dv))])
    }

    fn masked_mean(&self, mask: &Self, [b, _, n]: [usize; 3]) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("masked_mean", 2 * self.len() as u64, b * n, |o| cpu::masked_mean(self, mask, n, o)))
    }

    fn masked_mean_backward(&self, g: &Self, [b, t, n]: [usize; 3]) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("masked_mean", (b * t * n) as u64, b * t * n, |o| {
            cpu::masked_mean_backward(self, g, n, o)
        }))
    }

    fn l2_normalize(&self, len: usize, eps: f32) -> Result<(Storage, Storage)> {
        let mut norms = HostBuffer::uninit_for_overwrite(self.len() / len.max(1));
        let y = cpu_kernel_overwrite("l2_normalize", 3 * self.len() as u64, self.len(), |o| {
            cpu::l2_normalize(self, len, eps, o, norms.as_mut_slice())
        });
        Ok((y, Storage::Cpu(Arc::new(norms))))
    }

    fn l2_normalize_backward(&self, norms: &Self, g: &Self, eps: f32) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("l2_normalize", 4 * self.len() as u64, self.len(), |o| {
            cpu::l2_normalize_backward(self, norms, g, eps, o)
        }))
    }

    fn embedding_sum(tables: &[&Self], indices: &[&[usize]], hidden: usize) -> Result<Storage> {
        let n = indices.first().map_or(0, |i| i.len());
        let slices: Vec<&[f32]> = tables.iter().map(|t| &t[..]).collect();
        Ok(cpu_kernel_overwrite("embedding_sum", (tables.len() * n * hidden) as u64, n * hidden, |o| {
            cpu::embedding_sum(&slices, indices, hidden, o)
        }))
    }

    fn max_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<(Storage, Storage)> {
        let mut idx = HostBuffer::uninit_for_overwrite(n_out);
        let out = cpu_kernel_overwrite("max_pool2d", flops, n_out, |o| cpu::max_pool2d(self, g, o, idx.as_mut_slice()));
        Ok((out, Storage::Cpu(Arc::new(idx))))
    }

    fn max_pool2d_backward(&self, winners: &Self, g: &Pool2dGeometry, n_in: usize) -> Result<Storage> {
        // The kernel clears each plane before routing gradients into it.
        Ok(cpu_kernel_overwrite("max_pool2d", self.len() as u64, n_in, |o| {
            cpu::max_pool2d_backward(self, winners, g, o)
        }))
    }

    fn avg_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<Storage> {
        Ok(cpu_kernel("avg_pool2d", flops, n_out, |o| cpu::avg_pool2d(self, g, o)))
    }

    fn avg_pool2d_backward(&self, g: &Pool2dGeometry, flops: u64, n_in: usize) -> Result<Storage> {
        Ok(cpu_kernel("avg_pool2d", flops, n_in, |o| cpu::avg_pool2d_backward(self, g, o)))
    }

    fn bce_with_logits(&self, y: &Self, flops: u64) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("bce_with_logits", flops, 1, |o| o[0] = cpu::bce_with_logits(self, y)))
    }

    fn bce_with_logits_backward(&self, y: &Self, g: &Self, flops: u64) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("bce_with_logits", flops, self.len(), |o| {
            cpu::bce_with_logits_backward(self, y, g[0], o)
        }))
    }

    fn bce_with_logits_backward_targets(&self, g: &Self, flops: u64) -> Result<Storage> {
        Ok(cpu_kernel_overwrite("bce_with_logits", flops, self.len(), |o| {
            cpu::bce_with_logits_backward_targets(self, g[0], o)
        }))
    }

    fn strided_copy(&self, kind: &'static str, offset: usize, strides: &[usize], shape: &[usize]) -> Result<Storage> {
        let n: usize = shape.iter().product();
        Ok(cpu_kernel_overwrite(kind, 0, n, |o| cpu::strided_copy(self, offset, strides, shape, o)))
    }

    fn strided_add_into(
        &mut self,
        kind: &'static str,
        offset: usize,
        strides: &[usize],
        shape: &[usize],
        src: &Self,
    ) -> Result<()> {
        stats::record(kind, src.len() as u64);
        // A buffer the caller holds alone is borrowed, not copied.
        cpu::strided_add_into(Arc::make_mut(self).as_mut_slice(), offset, strides, shape, src);
        Ok(())
    }

    fn axpby_(&mut self, kind: &'static str, alpha: f32, x: &Self, beta: f32) -> Result<()> {
        stats::record(kind, 3 * x.len() as u64);
        match Arc::get_mut(self) {
            Some(y) => cpu::axpby_in_place(alpha, y.as_mut_slice(), beta, x),
            None => {
                let mut out = HostBuffer::uninit_for_overwrite(x.len());
                cpu::axpby(alpha, self, beta, x, out.as_mut_slice());
                *self = Arc::new(out);
            }
        }
        Ok(())
    }
}
