//! The GPU back end: `graft_kernels::gpu` over GPU buffers. Where the CPU has a fused kernel
//! and the GPU has none yet, the GPU composes its kernels here and counts them as the CPU
//! twin's one launch (same kind, same FLOPs), so op statistics compare across devices.

use super::{BackendStorage, ConvEpilogueOf, ConvGrads, MatmulEpilogue};
use crate::{stats, Result, Storage};
use graft_kernels::cpu::{AttentionShape, Conv2dGeometry, MatmulSpec, Pool2dGeometry};
use graft_kernels::gpu::{self, GpuBuffer, GpuContext, GpuResult};
use graft_kernels::{AxisSplit, BinaryOp, ReduceOp, UnaryOp};
use std::sync::Arc;

/// Records a GPU kernel that makes a fresh buffer, counting one launch of `kind` exactly as
/// [`super::cpu_kernel`] does for the CPU twin.
fn gpu_kernel(kind: &'static str, flops: u64, f: impl FnOnce() -> GpuResult<GpuBuffer>) -> Result<Storage> {
    stats::record(kind, flops);
    Ok(Storage::Gpu(f()?))
}

/// The context of a GPU buffer (the one its kernels must run on).
fn ctx(b: &GpuBuffer) -> &Arc<GpuContext> {
    b.context()
}

impl BackendStorage for GpuBuffer {
    fn unary(&self, op: UnaryOp) -> Result<Storage> {
        gpu_kernel(op.name(), self.len() as u64, || gpu::unary(ctx(self), op, self))
    }

    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Storage> {
        gpu_kernel(op.name(), 2 * self.len() as u64, || gpu::unary_backward(ctx(self), op, self, y, dy))
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
        gpu_kernel(op.name(), n as u64, || gpu::binary(ctx(self), op, self, shape, rhs, rhs_shape, out_shape))
    }

    fn reduce(&self, op: ReduceOp, split: AxisSplit) -> Result<Storage> {
        gpu_kernel(op.name(), split.numel() as u64, || gpu::reduce(ctx(self), op, self, split))
    }

    fn arg_reduce(&self, op: &'static str, want_max: bool, split: AxisSplit) -> Result<Storage> {
        gpu_kernel(op, split.numel() as u64, || gpu::arg_reduce(ctx(self), want_max, self, split))
    }

    fn softmax(&self, log: bool, split: AxisSplit) -> Result<Storage> {
        gpu_kernel(super::softmax_name(log), 5 * self.len() as u64, || {
            if log {
                gpu::log_softmax(ctx(self), self, split)
            } else {
                gpu::softmax(ctx(self), self, split)
            }
        })
    }

    fn softmax_backward(&self, log: bool, g: &Self, split: AxisSplit) -> Result<Storage> {
        gpu_kernel(super::softmax_name(log), 4 * self.len() as u64, || {
            if log {
                gpu::log_softmax_backward(ctx(self), self, g, split)
            } else {
                gpu::softmax_backward(ctx(self), self, g, split)
            }
        })
    }

    /// Composed: log-softmax, the labels' gather, their sum and a scale by `−1/rows` (the same
    /// kernels, and bits, as `log_softmax → gather → mean_all → neg`).
    fn cross_entropy(&self, labels: &[usize], classes: usize) -> Result<(Storage, Storage)> {
        let (c, rows, n) = (ctx(self), labels.len(), self.len());
        let split = AxisSplit::new(&[rows, classes], 1);
        let lsm = gpu::log_softmax(c, self, split)?;
        let loss = gpu_kernel("cross_entropy", 5 * n as u64 + rows as u64, || {
            let picked = gpu::gather_axis(c, &lsm, split, labels, 1)?;
            let sum = gpu::reduce(c, ReduceOp::Sum, &picked, AxisSplit::new(&[rows], 0))?;
            gpu::unary(c, UnaryOp::MulScalar(-1.0 / rows as f32), &sum)
        })?;
        Ok((loss, Storage::Gpu(lsm)))
    }

    /// Composed: `−g/rows` at each row's label, through the log-softmax's backward kernel.
    fn cross_entropy_backward(&self, labels: &[usize], g: &Self) -> Result<Storage> {
        let (c, rows, n) = (ctx(self), labels.len(), self.len());
        let split = AxisSplit::new(&[rows, n / rows], 1);
        gpu_kernel("cross_entropy", 3 * n as u64, || {
            let scaled = gpu::unary(c, UnaryOp::MulScalar(-1.0 / rows as f32), g)?;
            let per_row = gpu::strided_copy(c, &scaled, 0, &[0, 0], &[rows, 1])?;
            let dlsm = GpuBuffer::zeros(c, n)?;
            gpu::scatter_add_axis(c, &dlsm, split, labels, 1, &per_row)?;
            gpu::log_softmax_backward(c, self, &dlsm, split)
        })
    }

    fn index_select(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        gpu_kernel("index_select", 0, || gpu::index_select(ctx(self), self, split, indices))
    }

    fn index_select_backward(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        gpu_kernel("index_select", self.len() as u64, || {
            let dx = GpuBuffer::zeros(ctx(self), split.numel())?;
            gpu::index_add(ctx(self), &dx, split, indices, self)?;
            Ok(dx)
        })
    }

    fn gather(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        gpu_kernel("gather", 0, || gpu::gather_axis(ctx(self), self, split, indices, idx_len))
    }

    fn gather_backward(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        gpu_kernel("gather", self.len() as u64, || {
            let dx = GpuBuffer::zeros(ctx(self), split.numel())?;
            gpu::scatter_add_axis(ctx(self), &dx, split, indices, idx_len, self)?;
            Ok(dx)
        })
    }

    /// The GPU matmul has no epilogue: the product, then a broadcast add of the bias and a ReLU,
    /// counted as the one `matmul` launch of the CPU's fused GEMM.
    fn matmul(
        &self,
        b: &Self,
        spec: MatmulSpec,
        epilogue: MatmulEpilogue<'_, Self>,
        _frozen_b: bool,
    ) -> Result<Storage> {
        let c = ctx(self);
        gpu_kernel("matmul", spec.flops(), || {
            let mut z = gpu::matmul(c, self, b, spec)?;
            if let Some(bias) = epilogue.bias {
                let out = [spec.batch * spec.m, spec.n];
                z = gpu::binary(c, BinaryOp::Add, &z, &out, bias, &[spec.n], &out)?;
            }
            if epilogue.relu {
                z = gpu::unary(c, UnaryOp::Relu, &z)?;
            }
            Ok(z)
        })
    }

    fn relu_mask(&self, g: &Self) -> Result<Storage> {
        gpu_kernel("relu", self.len() as u64, || gpu::unary_backward(ctx(self), UnaryOp::Relu, self, self, g))
    }

    /// The convolution, then the epilogue as broadcast `mul`/`add` and the activation, counted
    /// as one `conv2d` launch.
    fn conv2d(&self, w: &Self, epi: ConvEpilogueOf<'_, Self>, g: &Conv2dGeometry) -> Result<Storage> {
        let c = ctx(self);
        gpu_kernel("conv2d", g.flops(), || {
            let mut y = gpu::conv2d_forward(c, self, w, g)?;
            let out = [g.n, g.o, g.out_h().unwrap_or(0), g.out_w().unwrap_or(0)];
            for (op, per_channel) in [(BinaryOp::Mul, epi.scale), (BinaryOp::Add, epi.bias)] {
                if let Some(v) = per_channel {
                    y = gpu::binary(c, op, &y, &out, v, &[1, g.o, 1, 1], &out)?;
                }
            }
            match epi.act.unary_op() {
                Some(op) => gpu::unary(c, op, &y),
                None => Ok(y),
            }
        })
    }

    /// The bias gradient is two sum reductions of `dy`, counted with the weight gradient as the
    /// CPU's one pass computes both.
    fn conv2d_backward(&self, w: &Self, dy: &Self, g: &Conv2dGeometry, needs: [bool; 3]) -> Result<ConvGrads> {
        let c = ctx(self);
        let dx = needs[0]
            .then(|| gpu_kernel("conv2d", g.flops(), || gpu::conv2d_backward_input(c, dy, w, g)))
            .transpose()?;
        let (mut dw, mut db) = (None, None);
        if needs[1] || needs[2] {
            stats::record("conv2d", g.flops());
            if needs[1] {
                dw = Some(Storage::Gpu(gpu::conv2d_backward_weight(c, dy, self, g)?));
            }
            if needs[2] {
                let plane = dy.len() / (g.n * g.o).max(1);
                let per_image =
                    gpu::reduce(c, ReduceOp::Sum, dy, AxisSplit { outer: g.n * g.o, len: plane, inner: 1 })?;
                let sum = gpu::reduce(c, ReduceOp::Sum, &per_image, AxisSplit { outer: 1, len: g.n, inner: g.o })?;
                db = Some(Storage::Gpu(sum));
            }
        }
        Ok((dx, dw, db))
    }

    fn layer_norm(&self, w: &Self, b: &Self, eps: f32, flops: u64) -> Result<(Storage, Storage, Storage)> {
        stats::record("layer_norm", flops);
        let (y, mean, rstd) = gpu::layer_norm(ctx(self), self, w, b, eps)?;
        Ok((Storage::Gpu(y), Storage::Gpu(mean), Storage::Gpu(rstd)))
    }

    /// The weight and bias gradients come from one kernel; each is counted as the CPU's
    /// separate launch of the same gradient.
    fn layer_norm_backward(
        &self,
        w: &Self,
        row_stats: [&Self; 2],
        dy: &Self,
        flops: u64,
        needs: [bool; 3],
    ) -> Result<ConvGrads> {
        let c = ctx(self);
        let dx = needs[0]
            .then(|| gpu_kernel("layer_norm", flops, || gpu::layer_norm_backward_input(c, self, w, row_stats, dy)))
            .transpose()?;
        let (dw, db) = if needs[1] || needs[2] {
            let (dw, db) = gpu::layer_norm_backward_params(c, self, w.len(), row_stats, dy)?;
            if needs[1] {
                stats::record("layer_norm", 3 * self.len() as u64);
            }
            if needs[2] {
                stats::record("layer_norm", dy.len() as u64);
            }
            (needs[1].then_some(Storage::Gpu(dw)), needs[2].then_some(Storage::Gpu(db)))
        } else {
            (None, None)
        };
        Ok((dx, dw, db))
    }

    fn attention(&self, k: &Self, v: &Self, mask: &Self, s: AttentionShape, flops: u64) -> Result<(Storage, Storage)> {
        stats::record("attention", flops);
        let (out, probs) = gpu::attention(ctx(self), [self, k, v, mask], s)?;
        Ok((Storage::Gpu(out), Storage::Gpu(probs)))
    }

    /// Two kernels (the query pass and the key pass), counted as the CPU's one launch.
    fn attention_backward(
        &self,
        [k, v, mask]: [&Self; 3],
        probs: &Self,
        dout: &Self,
        s: AttentionShape,
        flops: u64,
    ) -> Result<[Storage; 3]> {
        stats::record("attention", flops);
        let grads = gpu::attention_backward(ctx(self), [self, k, v, mask], probs, dout, s)?;
        Ok(grads.map(Storage::Gpu))
    }

    fn masked_mean(&self, mask: &Self, shape: [usize; 3]) -> Result<Storage> {
        gpu_kernel("masked_mean", 2 * self.len() as u64, || gpu::masked_mean(ctx(self), self, mask, shape))
    }

    fn masked_mean_backward(&self, g: &Self, shape: [usize; 3]) -> Result<Storage> {
        let n = shape.iter().product::<usize>() as u64;
        gpu_kernel("masked_mean", n, || gpu::masked_mean_backward(ctx(self), self, g, shape))
    }

    fn l2_normalize(&self, len: usize, eps: f32) -> Result<(Storage, Storage)> {
        stats::record("l2_normalize", 3 * self.len() as u64);
        let (y, norms) = gpu::l2_normalize(ctx(self), self, len, eps)?;
        Ok((Storage::Gpu(y), Storage::Gpu(norms)))
    }

    fn l2_normalize_backward(&self, norms: &Self, g: &Self, eps: f32) -> Result<Storage> {
        gpu_kernel("l2_normalize", 4 * self.len() as u64, || gpu::l2_normalize_backward(ctx(self), self, norms, g, eps))
    }

    /// One launch per table, counted as the CPU's one.
    fn embedding_sum(tables: &[&Self], indices: &[&[usize]], hidden: usize) -> Result<Storage> {
        let Some(first) = tables.first() else {
            return Err(crate::Error::BadShape {
                op: "embedding_sum",
                shape: vec![],
                reason: "no tables to sum".into(),
            });
        };
        let n = indices.first().map_or(0, |i| i.len());
        gpu_kernel("embedding_sum", (tables.len() * n * hidden) as u64, || {
            gpu::embedding_sum(ctx(first), tables, indices, hidden)
        })
    }

    fn max_pool2d(&self, g: &Pool2dGeometry, flops: u64, _n_out: usize) -> Result<(Storage, Storage)> {
        stats::record("max_pool2d", flops);
        let (out, idx) = gpu::max_pool2d(ctx(self), self, g)?;
        Ok((Storage::Gpu(out), Storage::Gpu(idx)))
    }

    fn max_pool2d_backward(&self, winners: &Self, g: &Pool2dGeometry, _n_in: usize) -> Result<Storage> {
        gpu_kernel("max_pool2d", self.len() as u64, || gpu::max_pool2d_backward(ctx(self), self, winners, g))
    }

    fn avg_pool2d(&self, g: &Pool2dGeometry, flops: u64, _n_out: usize) -> Result<Storage> {
        gpu_kernel("avg_pool2d", flops, || gpu::avg_pool2d(ctx(self), self, g))
    }

    fn avg_pool2d_backward(&self, g: &Pool2dGeometry, flops: u64, _n_in: usize) -> Result<Storage> {
        gpu_kernel("avg_pool2d", flops, || gpu::avg_pool2d_backward(ctx(self), self, g))
    }

    fn bce_with_logits(&self, y: &Self, flops: u64) -> Result<Storage> {
        gpu_kernel("bce_with_logits", flops, || gpu::bce_with_logits(ctx(self), self, y))
    }

    fn bce_with_logits_backward(&self, y: &Self, g: &Self, flops: u64) -> Result<Storage> {
        gpu_kernel("bce_with_logits", flops, || gpu::bce_with_logits_backward(ctx(self), self, y, g))
    }

    fn bce_with_logits_backward_targets(&self, g: &Self, flops: u64) -> Result<Storage> {
        gpu_kernel("bce_with_logits", flops, || gpu::bce_with_logits_backward_targets(ctx(self), self, g))
    }

    fn strided_copy(&self, kind: &'static str, offset: usize, strides: &[usize], shape: &[usize]) -> Result<Storage> {
        gpu_kernel(kind, 0, || gpu::strided_copy(ctx(self), self, offset, strides, shape))
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
        Ok(gpu::strided_add_into(ctx(self), self, offset, strides, shape, src)?)
    }

    /// Two recorded kernels (scale, add); the new buffer replaces the old one.
    fn axpby_(&mut self, kind: &'static str, alpha: f32, x: &Self, beta: f32) -> Result<()> {
        stats::record(kind, 3 * x.len() as u64);
        let c = ctx(self);
        let scale =
            |t: &GpuBuffer, k: f32| if k == 1.0 { Ok(t.clone()) } else { gpu::unary(c, UnaryOp::MulScalar(k), t) };
        let n = [x.len()];
        let new = gpu::binary(c, BinaryOp::Add, &scale(self, alpha)?, &n, &scale(x, beta)?, &n, &n)?;
        *self = new;
        Ok(())
    }
}
