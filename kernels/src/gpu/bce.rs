//! Binary cross-entropy on logits and its gradients (twins of `cpu::bce_with_logits` and its
//! backward kernels).

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{fill, reduce, unary, GpuBuffer, GpuResult};
use crate::{AxisSplit, ReduceOp, UnaryOp};
use std::sync::Arc;

const SHADER: Shader = Shader::checked("bce", concat!(include_str!("common.wgsl"), include_str!("bce.wgsl")));

/// `BceParams` of bce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BceParams {
    n: u32,
    /// bce_backward: 0 for the logits' gradient, 1 for the targets'.
    which: u32,
    /// `n` as a float (the mean's divisor).
    n_f32: f32,
    pad: [u32; 1],
}

/// The mean over all elements of `max(x, 0) − x·y + ln(1 + e^(−|x|))`, as a 1-element buffer:
/// one kernel for the elementwise losses, then the sum reduction and a scale by `1/n`. The
/// losses are f32 and summed in tree order, so the result differs from the CPU's f64 sum by
/// rounding. The mean of nothing is NaN, as on the CPU.
pub fn bce_with_logits(ctx: &Arc<GpuContext>, x: &GpuBuffer, y: &GpuBuffer) -> GpuResult<GpuBuffer> {
    let name = "bce_with_logits";
    let n = x.len();
    check(ctx, name, &[("x", x, n), ("y", y, n)])?;
    if n == 0 {
        // Written directly: `0 · (1/0)` in a shader need not give NaN.
        return fill(ctx, 1, f32::NAN);
    }
    let losses = GpuBuffer::uninit(ctx, n)?;
    let params = BceParams { n: u32_of(ctx, name, n)?, which: 0, n_f32: n as f32, pad: [0; 1] };
    ctx.dispatch_typed(&SHADER, "bce_loss", &params, &[x.raw(), y.raw(), losses.raw()], grid_1d(ctx, name, n)?)?;
    let sum = reduce(ctx, ReduceOp::Sum, &losses, AxisSplit::new(&[n], 0))?;
    unary(ctx, UnaryOp::MulScalar(1.0 / n as f32), &sum)
}

/// `dx[i] = g · (σ(x[i]) − y[i]) / n`, with the upstream gradient `g` read on the device from
/// its 1-element buffer.
pub fn bce_with_logits_backward(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    y: &GpuBuffer,
    g: &GpuBuffer,
) -> GpuResult<GpuBuffer> {
    let name = "bce_with_logits_backward";
    check(ctx, name, &[("x", x, x.len()), ("y", y, x.len()), ("g", g, 1)])?;
    backward(ctx, name, 0, x, y, g)
}

/// `dy[i] = −g · x[i] / n`, with `g` read on the device from its 1-element buffer.
pub fn bce_with_logits_backward_targets(ctx: &Arc<GpuContext>, x: &GpuBuffer, g: &GpuBuffer) -> GpuResult<GpuBuffer> {
    let name = "bce_with_logits_backward_targets";
    check(ctx, name, &[("x", x, x.len()), ("g", g, 1)])?;
    // The targets' slot is unused on this path; `x` fills it (two read-only bindings of one
    // buffer are allowed), so one pipeline serves both gradients.
    backward(ctx, name, 1, x, x, g)
}

fn backward(
    ctx: &Arc<GpuContext>,
    name: &'static str,
    which: u32,
    x: &GpuBuffer,
    y: &GpuBuffer,
    g: &GpuBuffer,
) -> GpuResult<GpuBuffer> {
    let n = x.len();
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    // `n as f32` from the host, as the CPU computes it, so both divide by the same float.
    let params = BceParams { n: u32_of(ctx, name, n)?, which, n_f32: n as f32, pad: [0; 1] };
    ctx.dispatch_typed(
        &SHADER,
        "bce_backward",
        &params,
        &[x.raw(), y.raw(), out.raw(), g.raw()],
        grid_1d(ctx, name, n)?,
    )?;
    Ok(out)
}
