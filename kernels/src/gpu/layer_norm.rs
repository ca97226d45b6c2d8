//! LayerNorm over rows and its gradients (twins of `cpu::layer_norm`), one thread per row
//! (forward, input gradient) or per feature (weight and bias gradients).

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use std::sync::Arc;

const FORWARD: Shader = Shader::checked(
    "layer_norm",
    concat!(include_str!("common.wgsl"), include_str!("layer_norm_params.wgsl"), include_str!("layer_norm.wgsl")),
);
const BACKWARD_INPUT: Shader = Shader::checked(
    "layer_norm_backward_input",
    concat!(
        include_str!("common.wgsl"),
        include_str!("layer_norm_params.wgsl"),
        include_str!("layer_norm_backward_input.wgsl")
    ),
);
const BACKWARD_PARAMS: Shader = Shader::checked(
    "layer_norm_backward_params",
    concat!(
        include_str!("common.wgsl"),
        include_str!("layer_norm_params.wgsl"),
        include_str!("layer_norm_backward_params.wgsl")
    ),
);

/// Rows of `w.len()` features of `x`, and the row count, checked against the other operands.
/// `LayerNormParams` of layer_norm_params.wgsl (the three LayerNorm shaders).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LayerNormParams {
    rows: u32,
    n: u32,
    /// Forward only.
    eps: f32,
    pad: [u32; 1],
}

fn rows_of(ctx: &Arc<GpuContext>, op: &'static str, x: &GpuBuffer, n: usize) -> GpuResult<(usize, LayerNormParams)> {
    if n == 0 || !x.len().is_multiple_of(n) {
        return Err(ctx.error(op, format!("`x` has {} elements, not rows of {n}", x.len())));
    }
    let rows = x.len() / n;
    let params = LayerNormParams { rows: u32_of(ctx, op, rows)?, n: u32_of(ctx, op, n)?, eps: 0.0, pad: [0; 1] };
    Ok((rows, params))
}

/// `(y, mean, rstd)`: `y = (x − μ)·r·w + b` per row, `r = 1/√(σ² + eps)`.
pub fn layer_norm(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    w: &GpuBuffer,
    b: &GpuBuffer,
    eps: f32,
) -> GpuResult<(GpuBuffer, GpuBuffer, GpuBuffer)> {
    let op = "layer_norm";
    let n = w.len();
    let (rows, params) = rows_of(ctx, op, x, n)?;
    check(ctx, op, &[("x", x, rows * n), ("w", w, n), ("b", b, n)])?;
    let (y, mean, rstd) =
        (GpuBuffer::uninit(ctx, x.len())?, GpuBuffer::uninit(ctx, rows)?, GpuBuffer::uninit(ctx, rows)?);
    if rows > 0 {
        let buffers = [x.raw(), w.raw(), b.raw(), y.raw(), mean.raw(), rstd.raw()];
        ctx.dispatch_typed(&FORWARD, op, &LayerNormParams { eps, ..params }, &buffers, grid_1d(ctx, op, rows)?)?;
    }
    Ok((y, mean, rstd))
}

/// The input gradient from the forward's row statistics and the upstream `dy`.
pub fn layer_norm_backward_input(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    w: &GpuBuffer,
    [mean, rstd]: [&GpuBuffer; 2],
    dy: &GpuBuffer,
) -> GpuResult<GpuBuffer> {
    let op = "layer_norm_backward_input";
    let n = w.len();
    let (rows, params) = rows_of(ctx, op, x, n)?;
    check(ctx, op, &[("x", x, rows * n), ("mean", mean, rows), ("rstd", rstd, rows), ("dy", dy, rows * n)])?;
    let dx = GpuBuffer::uninit(ctx, x.len())?;
    if rows > 0 {
        let buffers = [x.raw(), w.raw(), mean.raw(), rstd.raw(), dy.raw(), dx.raw()];
        ctx.dispatch_typed(&BACKWARD_INPUT, op, &params, &buffers, grid_1d(ctx, op, rows)?)?;
    }
    Ok(dx)
}

/// The weight and bias gradients `(Σ_rows dy·x̂, Σ_rows dy)`, `n` features each.
pub fn layer_norm_backward_params(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    n: usize,
    [mean, rstd]: [&GpuBuffer; 2],
    dy: &GpuBuffer,
) -> GpuResult<(GpuBuffer, GpuBuffer)> {
    let op = "layer_norm_backward_params";
    let (rows, params) = rows_of(ctx, op, x, n)?;
    check(ctx, op, &[("mean", mean, rows), ("rstd", rstd, rows), ("dy", dy, rows * n)])?;
    let (dw, db) = (GpuBuffer::uninit(ctx, n)?, GpuBuffer::uninit(ctx, n)?);
    let buffers = [x.raw(), mean.raw(), rstd.raw(), dy.raw(), dw.raw(), db.raw()];
    ctx.dispatch_typed(&BACKWARD_PARAMS, op, &params, &buffers, grid_1d(ctx, op, n)?)?;
    Ok((dw, db))
}
