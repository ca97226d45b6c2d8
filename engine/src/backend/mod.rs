//! The back-end seam: every primitive the engine's ops need, implemented once per device.
//!
//! [`BackendStorage`] lists the primitives (elementwise with broadcasting, reductions, the
//! softmax family, index ops, matmul with its epilogue, convolution, pooling, strided copies,
//! the fused losses, …). `cpu.rs` implements it for host buffers by calling
//! `graft_kernels::cpu` through [`cpu_kernel`] / [`cpu_kernel_overwrite`] (so op statistics and
//! the host pool behave the same for every op), `gpu.rs` (feature `gpu`) for GPU buffers by
//! calling `graft_kernels::gpu` through `gpu_kernel`. Where one back end has a fused kernel and
//! the other does not (the linear layer's bias and ReLU epilogue, the cross-entropy loss, the
//! convolution's bias), the other composes its existing kernels *inside* its implementation and
//! counts them as the fused twin's launches, so op statistics are the same on every device.
//!
//! The `impl Storage` block below is the only dispatch: it finds the one back end all operands
//! live on — the one place mixed devices become [`Error::DeviceMismatch`] — and calls its
//! implementation. Engine ops call these `Storage` methods and never name a device.

mod cpu;
pub(crate) mod frozen_weights;
#[cfg(feature = "gpu")]
mod gpu;

use crate::{Error, HostBuffer, Result, Storage};
use graft_kernels::cpu::{AttentionShape, Conv2dGeometry, ConvActivation, MatmulSpec, Pool2dGeometry};
use graft_kernels::{AxisSplit, BinaryOp, ReduceOp, UnaryOp};
use std::sync::Arc;

#[cfg(feature = "gpu")]
use graft_kernels::gpu::GpuBuffer;

/// Host storage, as a back end sees it.
pub(crate) type CpuStorage = Arc<HostBuffer>;

/// What a matmul does to each finished output tile: add a per-column bias, then a ReLU.
#[derive(Clone, Copy)]
pub(crate) struct MatmulEpilogue<'a, S> {
    pub bias: Option<&'a S>,
    pub relu: bool,
}

/// What a convolution applies to each output channel: `act(conv · scale + bias)`.
#[derive(Clone, Copy)]
pub(crate) struct ConvEpilogueOf<'a, S> {
    pub bias: Option<&'a S>,
    pub scale: Option<&'a S>,
    pub act: ConvActivation,
}

/// Gradients of an op with three inputs (a convolution's, a LayerNorm's: input, weight,
/// bias), each `None` where it was not asked for.
pub(crate) type ConvGrads = (Option<Storage>, Option<Storage>, Option<Storage>);

/// The primitives of one back end. Every method makes fresh storage and counts its launches in
/// the op statistics exactly as the other back ends do.
pub(crate) trait BackendStorage: Sized {
    /// `op(self)` elementwise.
    fn unary(&self, op: UnaryOp) -> Result<Storage>;
    /// `dy ⊙ op'(x)` from the forward input `self`, its output `y` and the upstream `dy`.
    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Storage>;
    /// `op(self, rhs)` elementwise, broadcasting both shapes to `out_shape`.
    fn binary(
        &self,
        op: BinaryOp,
        shape: &[usize],
        rhs: &Self,
        rhs_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Storage>;
    /// `op` along the middle axis of `split`.
    fn reduce(&self, op: ReduceOp, split: AxisSplit) -> Result<Storage>;
    /// Position of the first maximum (or minimum) along the middle axis of `split`.
    fn arg_reduce(&self, op: &'static str, want_max: bool, split: AxisSplit) -> Result<Storage>;
    /// Softmax (or log-softmax) along the middle axis of `split`.
    fn softmax(&self, log: bool, split: AxisSplit) -> Result<Storage>;
    /// The softmax family's backward from its output `self` and the upstream gradient.
    fn softmax_backward(&self, log: bool, g: &Self, split: AxisSplit) -> Result<Storage>;
    /// The mean cross-entropy of `[rows, classes]` logits against `labels`: the loss and the
    /// kept log-softmax for the backward.
    fn cross_entropy(&self, labels: &[usize], classes: usize) -> Result<(Storage, Storage)>;
    /// `g · (softmax − one_hot) / rows` from the kept log-softmax `self` and the 1-element `g`.
    fn cross_entropy_backward(&self, labels: &[usize], g: &Self) -> Result<Storage>;
    /// Entries `indices` along the middle axis of `split`.
    fn index_select(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage>;
    /// `self` (the gradient of an `index_select`) added into zeros at its rows.
    fn index_select_backward(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage>;
    /// One element per index position along the middle axis of `split` (`idx_len` per line).
    fn gather(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage>;
    /// `self` (the gradient of a `gather`) scattered and added into zeros.
    fn gather_backward(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage>;
    /// `op(self) · op(b)` with its epilogue. `frozen_b` says `b` is a 2-D operand that does not
    /// require grad (a back end may keep a transposed copy of it).
    fn matmul(&self, b: &Self, spec: MatmulSpec, epilogue: MatmulEpilogue<'_, Self>, frozen_b: bool)
        -> Result<Storage>;
    /// LayerNorm of consecutive rows of `w.len()` floats, scaled by `w` and shifted by `b`: the
    /// output and each row's mean and `1/√(σ² + eps)` (kept for the backward).
    fn layer_norm(&self, w: &Self, b: &Self, eps: f32, flops: u64) -> Result<(Storage, Storage, Storage)>;
    /// LayerNorm's input, weight and bias gradients from `dy` and the kept row statistics,
    /// each only when asked for.
    fn layer_norm_backward(
        &self,
        w: &Self,
        stats: [&Self; 2],
        dy: &Self,
        flops: u64,
        needs: [bool; 3],
    ) -> Result<ConvGrads>;
    /// Multi-head attention of queries `self` over keys `k` and values `v` with the key
    /// `mask`: the context and the softmax weights (kept for the backward).
    fn attention(&self, k: &Self, v: &Self, mask: &Self, s: AttentionShape, flops: u64) -> Result<(Storage, Storage)>;
    /// Attention's `[dq, dk, dv]` from the forward's operands, its kept `probs` and `dout`.
    fn attention_backward(
        &self,
        kvm: [&Self; 3],
        probs: &Self,
        dout: &Self,
        s: AttentionShape,
        flops: u64,
    ) -> Result<[Storage; 3]>;
    /// The mean of `self` `[batch, seq, hidden]` over the tokens, weighted by `mask` `[batch, seq]`.
    fn masked_mean(&self, mask: &Self, shape: [usize; 3]) -> Result<Storage>;
    /// Its input gradient from the `mask` `self` and the upstream `g` `[batch, hidden]`.
    fn masked_mean_backward(&self, g: &Self, shape: [usize; 3]) -> Result<Storage>;
    /// Rows of `len` divided by `max(‖row‖, eps)`: the output and each row's norm.
    fn l2_normalize(&self, len: usize, eps: f32) -> Result<(Storage, Storage)>;
    /// Its input gradient from the output `self`, the row `norms` and the upstream `g`.
    fn l2_normalize_backward(&self, norms: &Self, g: &Self, eps: f32) -> Result<Storage>;
    /// `[n, hidden]`: the sum over tables of the rows `indices[t]` of `tables[t]`.
    fn embedding_sum(tables: &[&Self], indices: &[&[usize]], hidden: usize) -> Result<Storage>;
    /// `g ⊙ [y > 0]` from the ReLU's output `self`, counted as the ReLU's backward.
    fn relu_mask(&self, g: &Self) -> Result<Storage>;
    /// Cross-correlation of `self` with `w`, then the per-channel epilogue.
    fn conv2d(&self, w: &Self, epi: ConvEpilogueOf<'_, Self>, g: &Conv2dGeometry) -> Result<Storage>;
    /// A convolution's input, weight and bias gradients from `dy`, each only when asked for.
    fn conv2d_backward(&self, w: &Self, dy: &Self, g: &Conv2dGeometry, needs: [bool; 3]) -> Result<ConvGrads>;
    /// Max pooling: the outputs and each output's winning position (as f32).
    fn max_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<(Storage, Storage)>;
    /// Max pooling's backward from the gradient `self` and the kept positions.
    fn max_pool2d_backward(&self, winners: &Self, g: &Pool2dGeometry, n_in: usize) -> Result<Storage>;
    /// Average pooling.
    fn avg_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<Storage>;
    /// Average pooling's backward from the gradient `self`.
    fn avg_pool2d_backward(&self, g: &Pool2dGeometry, flops: u64, n_in: usize) -> Result<Storage>;
    /// Mean binary cross-entropy of logits `self` against targets `y`.
    fn bce_with_logits(&self, y: &Self, flops: u64) -> Result<Storage>;
    /// Its gradient for the logits, from the 1-element upstream `g`.
    fn bce_with_logits_backward(&self, y: &Self, g: &Self, flops: u64) -> Result<Storage>;
    /// Its gradient for the targets, from the 1-element upstream `g`.
    fn bce_with_logits_backward_targets(&self, g: &Self, flops: u64) -> Result<Storage>;
    /// A contiguous copy of the strided view (`offset`, `strides`, `shape`), one launch of `kind`.
    fn strided_copy(&self, kind: &'static str, offset: usize, strides: &[usize], shape: &[usize]) -> Result<Storage>;
    /// Adds contiguous `src` (of `shape`) into the strided view of `self`, in place, one launch
    /// of `kind`.
    fn strided_add_into(
        &mut self,
        kind: &'static str,
        offset: usize,
        strides: &[usize],
        shape: &[usize],
        src: &Self,
    ) -> Result<()>;
    /// `self ← alpha · self + beta · x`, in place when the buffer is not shared (copy on write
    /// otherwise), one launch of `kind`.
    fn axpby_(&mut self, kind: &'static str, alpha: f32, x: &Self, beta: f32) -> Result<()>;
}

/// Operands found on one back end.
enum On<'a, const N: usize> {
    Cpu([&'a CpuStorage; N]),
    #[cfg(feature = "gpu")]
    Gpu([&'a GpuBuffer; N]),
}

/// The back end all of `storages` live on: the one place mixed devices are refused.
fn on<'a, const N: usize>(op: &'static str, storages: [&'a Storage; N]) -> Result<On<'a, N>> {
    let cpu = storages.map(Storage::as_host);
    if cpu.iter().all(Option::is_some) {
        return Ok(On::Cpu(cpu.map(|s| s.expect("checked to be host storage"))));
    }
    #[cfg(feature = "gpu")]
    {
        let gpu = storages.map(|s| match s {
            Storage::Gpu(b) => Some(b),
            Storage::Cpu(_) => None,
        });
        if gpu.iter().all(Option::is_some) {
            return Ok(On::Gpu(gpu.map(|s| s.expect("checked to be GPU storage"))));
        }
    }
    Err(mismatch(op, &storages))
}

/// `DeviceMismatch` naming the first operand's device and the first one that differs.
pub(crate) fn mismatch(op: &'static str, storages: &[&Storage]) -> Error {
    let first = storages.first().map(|s| s.device()).unwrap_or_default();
    let other = storages.iter().map(|s| s.device()).find(|d| *d != first).unwrap_or_default();
    Error::DeviceMismatch { op, lhs: first.to_string(), rhs: other.to_string() }
}

/// Runs `$body` with the operands bound to their back end's storage: the body is written once
/// and type-checks against each [`BackendStorage`] implementation.
macro_rules! dispatch {
    ($op:expr, [$($s:expr),+], |$($v:ident),+| $body:expr) => {
        match on($op, [$($s),+])? {
            On::Cpu([$($v),+]) => $body,
            #[cfg(feature = "gpu")]
            On::Gpu([$($v),+]) => $body,
        }
    };
}

/// The seam as ops see it: each method dispatches once to the back end of its operands.
impl Storage {
    /// The host buffer, if this storage is on the CPU.
    pub(crate) fn as_host(&self) -> Option<&CpuStorage> {
        match self {
            Storage::Cpu(b) => Some(b),
            #[cfg(feature = "gpu")]
            Storage::Gpu(_) => None,
        }
    }

    pub(crate) fn unary(&self, op: UnaryOp) -> Result<Storage> {
        dispatch!(op.name(), [self], |x| x.unary(op))
    }

    pub(crate) fn unary_backward(&self, op: UnaryOp, y: &Storage, dy: &Storage) -> Result<Storage> {
        dispatch!(op.name(), [self, y, dy], |x, y, dy| x.unary_backward(op, y, dy))
    }

    pub(crate) fn binary(
        &self,
        op: BinaryOp,
        shape: &[usize],
        rhs: &Storage,
        rhs_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Storage> {
        dispatch!(op.name(), [self, rhs], |a, b| a.binary(op, shape, b, rhs_shape, out_shape))
    }

    pub(crate) fn reduce(&self, op: ReduceOp, split: AxisSplit) -> Result<Storage> {
        dispatch!(op.name(), [self], |x| x.reduce(op, split))
    }

    pub(crate) fn arg_reduce(&self, op: &'static str, want_max: bool, split: AxisSplit) -> Result<Storage> {
        dispatch!(op, [self], |x| x.arg_reduce(op, want_max, split))
    }

    pub(crate) fn softmax(&self, log: bool, split: AxisSplit) -> Result<Storage> {
        dispatch!(softmax_name(log), [self], |x| x.softmax(log, split))
    }

    pub(crate) fn softmax_backward(&self, log: bool, g: &Storage, split: AxisSplit) -> Result<Storage> {
        dispatch!(softmax_name(log), [self, g], |y, g| y.softmax_backward(log, g, split))
    }

    pub(crate) fn cross_entropy(&self, labels: &[usize], classes: usize) -> Result<(Storage, Storage)> {
        dispatch!("cross_entropy", [self], |x| x.cross_entropy(labels, classes))
    }

    pub(crate) fn cross_entropy_backward(&self, labels: &[usize], g: &Storage) -> Result<Storage> {
        dispatch!("cross_entropy", [self, g], |lsm, g| lsm.cross_entropy_backward(labels, g))
    }

    pub(crate) fn index_select(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        dispatch!("index_select", [self], |x| x.index_select(split, indices))
    }

    pub(crate) fn index_select_backward(&self, split: AxisSplit, indices: &[usize]) -> Result<Storage> {
        dispatch!("index_select", [self], |g| g.index_select_backward(split, indices))
    }

    pub(crate) fn gather(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        dispatch!("gather", [self], |x| x.gather(split, indices, idx_len))
    }

    pub(crate) fn gather_backward(&self, split: AxisSplit, indices: &[usize], idx_len: usize) -> Result<Storage> {
        dispatch!("gather", [self], |g| g.gather_backward(split, indices, idx_len))
    }

    /// `op(self) · op(b)`, plus `bias` and a ReLU on each finished tile when given.
    pub(crate) fn matmul(
        &self,
        op: &'static str,
        b: &Storage,
        spec: MatmulSpec,
        bias: Option<&Storage>,
        relu: bool,
        frozen_b: bool,
    ) -> Result<Storage> {
        match bias {
            None => dispatch!(op, [self, b], |a, b| a.matmul(b, spec, MatmulEpilogue { bias: None, relu }, frozen_b)),
            Some(bias) => dispatch!(op, [self, b, bias], |a, b, bias| a.matmul(
                b,
                spec,
                MatmulEpilogue { bias: Some(bias), relu },
                frozen_b
            )),
        }
    }

    pub(crate) fn layer_norm(
        &self,
        w: &Storage,
        b: &Storage,
        eps: f32,
        flops: u64,
    ) -> Result<(Storage, Storage, Storage)> {
        dispatch!("layer_norm", [self, w, b], |x, w, b| x.layer_norm(w, b, eps, flops))
    }

    pub(crate) fn layer_norm_backward(
        &self,
        w: &Storage,
        [mean, rstd]: [&Storage; 2],
        dy: &Storage,
        flops: u64,
        needs: [bool; 3],
    ) -> Result<ConvGrads> {
        dispatch!("layer_norm", [self, w, mean, rstd, dy], |x, w, m, r, dy| x.layer_norm_backward(
            w,
            [m, r],
            dy,
            flops,
            needs
        ))
    }

    pub(crate) fn attention(
        &self,
        k: &Storage,
        v: &Storage,
        mask: &Storage,
        s: AttentionShape,
        flops: u64,
    ) -> Result<(Storage, Storage)> {
        dispatch!("attention", [self, k, v, mask], |q, k, v, m| q.attention(k, v, m, s, flops))
    }

    pub(crate) fn attention_backward(
        &self,
        [k, v, mask]: [&Storage; 3],
        probs: &Storage,
        dout: &Storage,
        s: AttentionShape,
        flops: u64,
    ) -> Result<[Storage; 3]> {
        dispatch!("attention", [self, k, v, mask, probs, dout], |q, k, v, m, p, g| q.attention_backward(
            [k, v, m],
            p,
            g,
            s,
            flops
        ))
    }

    pub(crate) fn masked_mean(&self, mask: &Storage, shape: [usize; 3]) -> Result<Storage> {
        dispatch!("masked_mean", [self, mask], |h, m| h.masked_mean(m, shape))
    }

    pub(crate) fn masked_mean_backward(&self, g: &Storage, shape: [usize; 3]) -> Result<Storage> {
        dispatch!("masked_mean", [self, g], |m, g| m.masked_mean_backward(g, shape))
    }

    pub(crate) fn l2_normalize(&self, len: usize, eps: f32) -> Result<(Storage, Storage)> {
        dispatch!("l2_normalize", [self], |x| x.l2_normalize(len, eps))
    }

    pub(crate) fn l2_normalize_backward(&self, norms: &Storage, g: &Storage, eps: f32) -> Result<Storage> {
        dispatch!("l2_normalize", [self, norms, g], |y, n, g| y.l2_normalize_backward(n, g, eps))
    }

    /// See [`BackendStorage::embedding_sum`]; every table on one device.
    pub(crate) fn embedding_sum(tables: &[&Storage], indices: &[&[usize]], hidden: usize) -> Result<Storage> {
        if let Some(host) = tables.iter().map(|t| t.as_host()).collect::<Option<Vec<_>>>() {
            return CpuStorage::embedding_sum(&host, indices, hidden);
        }
        #[cfg(feature = "gpu")]
        {
            let gpu = tables.iter().map(|t| match t {
                Storage::Gpu(b) => Some(b),
                Storage::Cpu(_) => None,
            });
            if let Some(gpu) = gpu.collect::<Option<Vec<_>>>() {
                return GpuBuffer::embedding_sum(&gpu, indices, hidden);
            }
        }
        Err(mismatch("embedding_sum", tables))
    }

    pub(crate) fn relu_mask(&self, op: &'static str, g: &Storage) -> Result<Storage> {
        dispatch!(op, [self, g], |y, g| y.relu_mask(g))
    }

    pub(crate) fn conv2d(&self, w: &Storage, epi: ConvEpilogueOf<'_, Storage>, g: &Conv2dGeometry) -> Result<Storage> {
        let act = epi.act;
        match (epi.bias, epi.scale) {
            (None, None) => {
                dispatch!("conv2d", [self, w], |x, w| x.conv2d(w, ConvEpilogueOf { bias: None, scale: None, act }, g))
            }
            (Some(b), None) => dispatch!("conv2d", [self, w, b], |x, w, b| x.conv2d(
                w,
                ConvEpilogueOf { bias: Some(b), scale: None, act },
                g
            )),
            (None, Some(s)) => dispatch!("conv2d", [self, w, s], |x, w, s| x.conv2d(
                w,
                ConvEpilogueOf { bias: None, scale: Some(s), act },
                g
            )),
            (Some(b), Some(s)) => dispatch!("conv2d", [self, w, b, s], |x, w, b, s| x.conv2d(
                w,
                ConvEpilogueOf { bias: Some(b), scale: Some(s), act },
                g
            )),
        }
    }

    pub(crate) fn conv2d_backward(
        &self,
        w: &Storage,
        dy: &Storage,
        g: &Conv2dGeometry,
        needs: [bool; 3],
    ) -> Result<ConvGrads> {
        dispatch!("conv2d", [self, w, dy], |x, w, dy| x.conv2d_backward(w, dy, g, needs))
    }

    pub(crate) fn max_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<(Storage, Storage)> {
        dispatch!("max_pool2d", [self], |x| x.max_pool2d(g, flops, n_out))
    }

    pub(crate) fn max_pool2d_backward(&self, winners: &Storage, g: &Pool2dGeometry, n_in: usize) -> Result<Storage> {
        dispatch!("max_pool2d", [self, winners], |dy, idx| dy.max_pool2d_backward(idx, g, n_in))
    }

    pub(crate) fn avg_pool2d(&self, g: &Pool2dGeometry, flops: u64, n_out: usize) -> Result<Storage> {
        dispatch!("avg_pool2d", [self], |x| x.avg_pool2d(g, flops, n_out))
    }

    pub(crate) fn avg_pool2d_backward(&self, g: &Pool2dGeometry, flops: u64, n_in: usize) -> Result<Storage> {
        dispatch!("avg_pool2d", [self], |dy| dy.avg_pool2d_backward(g, flops, n_in))
    }

    pub(crate) fn bce_with_logits(&self, y: &Storage, flops: u64) -> Result<Storage> {
        dispatch!("bce_with_logits", [self, y], |x, y| x.bce_with_logits(y, flops))
    }

    pub(crate) fn bce_with_logits_backward(&self, y: &Storage, g: &Storage, flops: u64) -> Result<Storage> {
        dispatch!("bce_with_logits", [self, y, g], |x, y, g| x.bce_with_logits_backward(y, g, flops))
    }

    pub(crate) fn bce_with_logits_backward_targets(&self, g: &Storage, flops: u64) -> Result<Storage> {
        dispatch!("bce_with_logits", [self, g], |x, g| x.bce_with_logits_backward_targets(g, flops))
    }

    pub(crate) fn strided_copy(
        &self,
        kind: &'static str,
        offset: usize,
        strides: &[usize],
        shape: &[usize],
    ) -> Result<Storage> {
        dispatch!(kind, [self], |x| x.strided_copy(kind, offset, strides, shape))
    }

    /// Zeros of `len` elements on this storage's device (filled there: nothing is uploaded).
    pub(crate) fn zeros_alike(&self, len: usize) -> Result<Storage> {
        Storage::full(len, 0.0, &self.device())
    }

    /// Adds contiguous `src` (of `shape`) into the strided view of this storage, in place.
    pub(crate) fn strided_add_into(
        &mut self,
        kind: &'static str,
        offset: usize,
        strides: &[usize],
        shape: &[usize],
        src: &Storage,
    ) -> Result<()> {
        match (&mut *self, src) {
            (Storage::Cpu(o), Storage::Cpu(s)) => o.strided_add_into(kind, offset, strides, shape, s),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(o), Storage::Gpu(s)) => o.strided_add_into(kind, offset, strides, shape, s),
            #[cfg(feature = "gpu")]
            _ => Err(mismatch(kind, &[self, src])),
        }
    }

    /// `self ← alpha · self + beta · x` (see [`BackendStorage::axpby_`]).
    #[cfg_attr(not(feature = "gpu"), allow(unused_variables, reason = "`kind` names a mismatch"))]
    pub(crate) fn axpby_(&mut self, kind: &'static str, alpha: f32, x: &Storage, beta: f32) -> Result<()> {
        match (&mut *self, x) {
            (Storage::Cpu(y), Storage::Cpu(x)) => y.axpby_(kind, alpha, x, beta),
            #[cfg(feature = "gpu")]
            (Storage::Gpu(y), Storage::Gpu(x)) => y.axpby_(kind, alpha, x, beta),
            #[cfg(feature = "gpu")]
            _ => Err(mismatch(kind, &[self, x])),
        }
    }
}

fn softmax_name(log: bool) -> &'static str {
    if log {
        "log_softmax"
    } else {
        "softmax"
    }
}
