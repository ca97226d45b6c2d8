//! Softmax and log-softmax along one axis with their backward rules (twins of `cpu::softmax`).

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::AxisSplit;
use std::sync::Arc;

const FORWARD: Shader = Shader::checked(
    "softmax",
    concat!(include_str!("common.wgsl"), include_str!("line_params.wgsl"), include_str!("softmax.wgsl")),
);
const BACKWARD: Shader = Shader::checked(
    "softmax_backward",
    concat!(include_str!("common.wgsl"), include_str!("line_params.wgsl"), include_str!("softmax_backward.wgsl")),
);

/// `LineParams` of line_params.wgsl: the `[outer, len, inner]` view.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LineParams {
    outer: u32,
    len: u32,
    inner: u32,
    pad: u32,
}

fn run(
    ctx: &Arc<GpuContext>,
    shader: &Shader,
    entry: &'static str,
    inputs: &[(&str, &GpuBuffer)],
    split: AxisSplit,
) -> GpuResult<GpuBuffer> {
    let args: Vec<_> = inputs.iter().map(|(n, b)| (*n, *b, split.numel())).collect();
    check(ctx, entry, &args)?;
    let out = GpuBuffer::uninit(ctx, split.numel())?;
    let lines = split.outer * split.inner;
    if lines == 0 || split.len == 0 {
        return Ok(out);
    }
    let params = LineParams {
        outer: u32_of(ctx, entry, split.outer)?,
        len: u32_of(ctx, entry, split.len)?,
        inner: u32_of(ctx, entry, split.inner)?,
        pad: 0,
    };
    let mut buffers: Vec<&wgpu::Buffer> = inputs.iter().map(|(_, b)| b.raw()).collect();
    buffers.push(out.raw());
    ctx.dispatch_typed(shader, entry, &params, &buffers, grid_1d(ctx, entry, lines)?)?;
    Ok(out)
}

/// Numerically stable softmax along the split's axis.
pub fn softmax(ctx: &Arc<GpuContext>, x: &GpuBuffer, split: AxisSplit) -> GpuResult<GpuBuffer> {
    run(ctx, &FORWARD, "softmax", &[("x", x)], split)
}

/// `log_softmax(x) = (x - max) - ln Σ exp(x - max)` along the split's axis.
pub fn log_softmax(ctx: &Arc<GpuContext>, x: &GpuBuffer, split: AxisSplit) -> GpuResult<GpuBuffer> {
    run(ctx, &FORWARD, "log_softmax", &[("x", x)], split)
}

/// Softmax backward from its output `y`: `dx = y ⊙ (dy − Σ dy ⊙ y)`.
pub fn softmax_backward(
    ctx: &Arc<GpuContext>,
    y: &GpuBuffer,
    dy: &GpuBuffer,
    split: AxisSplit,
) -> GpuResult<GpuBuffer> {
    run(ctx, &BACKWARD, "softmax_backward", &[("y", y), ("dy", dy)], split)
}

/// Log-softmax backward from its output `y`: `dx = dy − exp(y) Σ dy`.
pub fn log_softmax_backward(
    ctx: &Arc<GpuContext>,
    y: &GpuBuffer,
    dy: &GpuBuffer,
    split: AxisSplit,
) -> GpuResult<GpuBuffer> {
    run(ctx, &BACKWARD, "log_softmax_backward", &[("y", y), ("dy", dy)], split)
}
