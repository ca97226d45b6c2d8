//! Max and average 2-D pooling over `[n, c, h, w]` with backward (twins of `cpu::pool`).
//! Backwards run one thread per input pixel, so they are deterministic and match the CPU exactly.

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::cpu::Pool2dGeometry;
use std::sync::Arc;

const FORWARD: Shader = Shader::checked(
    "pool2d",
    concat!(include_str!("common.wgsl"), include_str!("pool_params.wgsl"), include_str!("pool2d.wgsl")),
);
const MAX_BACKWARD: Shader = Shader::checked(
    "pool2d_backward",
    concat!(
        include_str!("common.wgsl"),
        include_str!("pool_params.wgsl"),
        include_str!("pool_covering.wgsl"),
        include_str!("pool2d_backward.wgsl")
    ),
);
const AVG_BACKWARD: Shader = Shader::checked(
    "avg_pool2d_backward",
    concat!(
        include_str!("common.wgsl"),
        include_str!("pool_params.wgsl"),
        include_str!("pool_covering.wgsl"),
        include_str!("avg_pool2d_backward.wgsl")
    ),
);

/// `PoolParams` of pool_params.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    planes: u32,
    h: u32,
    w: u32,
    kh: u32,
    kw: u32,
    stride_h: u32,
    stride_w: u32,
    pad_h: u32,
    pad_w: u32,
    oh: u32,
    ow: u32,
    pad0: u32,
}

/// Kernel parameters and the output plane size, refusing windows that do not fit.
fn setup(ctx: &GpuContext, op: &'static str, g: &Pool2dGeometry) -> GpuResult<(PoolParams, usize)> {
    let (oh, ow) = match (g.out_h(), g.out_w()) {
        (Some(oh), Some(ow)) if g.stride.0 > 0 && g.stride.1 > 0 && g.kh > 0 && g.kw > 0 => (oh, ow),
        _ => return Err(ctx.error(op, format!("the window does not fit the padded input: {g:?}"))),
    };
    if g.padding.0 >= g.kh || g.padding.1 >= g.kw {
        return Err(ctx.error(op, format!("padding must be smaller than the window: {g:?}")));
    }
    let u = |v| u32_of(ctx, op, v);
    let params = PoolParams {
        planes: u(g.planes)?,
        h: u(g.h)?,
        w: u(g.w)?,
        kh: u(g.kh)?,
        kw: u(g.kw)?,
        stride_h: u(g.stride.0)?,
        stride_w: u(g.stride.1)?,
        pad_h: u(g.padding.0)?,
        pad_w: u(g.padding.1)?,
        oh: u(oh)?,
        ow: u(ow)?,
        pad0: 0,
    };
    Ok((params, oh * ow))
}

/// Max pooling: the outputs and, per output, the flat position (`y * w + x`) of the max inside
/// its plane, as f32.
pub fn max_pool2d(ctx: &Arc<GpuContext>, x: &GpuBuffer, g: &Pool2dGeometry) -> GpuResult<(GpuBuffer, GpuBuffer)> {
    let op = "max_pool2d";
    let (params, plane) = setup(ctx, op, g)?;
    check(ctx, op, &[("x", x, g.planes * g.h * g.w)])?;
    let n = g.planes * plane;
    let (out, indices) = (GpuBuffer::uninit(ctx, n)?, GpuBuffer::uninit(ctx, n)?);
    if n > 0 {
        ctx.dispatch_typed(
            &FORWARD,
            "max_pool2d",
            &params,
            &[x.raw(), out.raw(), indices.raw()],
            grid_1d(ctx, op, n)?,
        )?;
    }
    Ok((out, indices))
}

/// Routes each output gradient to the input position that won the max.
pub fn max_pool2d_backward(
    ctx: &Arc<GpuContext>,
    dy: &GpuBuffer,
    indices: &GpuBuffer,
    g: &Pool2dGeometry,
) -> GpuResult<GpuBuffer> {
    let op = "max_pool2d_backward";
    let (params, plane) = setup(ctx, op, g)?;
    check(ctx, op, &[("dy", dy, g.planes * plane), ("indices", indices, g.planes * plane)])?;
    let n = g.planes * g.h * g.w;
    let dx = GpuBuffer::uninit(ctx, n)?;
    if n > 0 {
        let buffers = [dy.raw(), indices.raw(), dx.raw()];
        ctx.dispatch_typed(&MAX_BACKWARD, "max_pool2d_backward", &params, &buffers, grid_1d(ctx, op, n)?)?;
    }
    Ok(dx)
}

/// Average pooling; padding counts towards the divisor (PyTorch's `count_include_pad=True`).
pub fn avg_pool2d(ctx: &Arc<GpuContext>, x: &GpuBuffer, g: &Pool2dGeometry) -> GpuResult<GpuBuffer> {
    let op = "avg_pool2d";
    let (params, plane) = setup(ctx, op, g)?;
    check(ctx, op, &[("x", x, g.planes * g.h * g.w)])?;
    let n = g.planes * plane;
    let out = GpuBuffer::uninit(ctx, n)?;
    if n > 0 {
        ctx.dispatch_typed(&FORWARD, "avg_pool2d", &params, &[x.raw(), out.raw()], grid_1d(ctx, op, n)?)?;
    }
    Ok(out)
}

/// Spreads each output gradient evenly over its window.
pub fn avg_pool2d_backward(ctx: &Arc<GpuContext>, dy: &GpuBuffer, g: &Pool2dGeometry) -> GpuResult<GpuBuffer> {
    let op = "avg_pool2d_backward";
    let (params, plane) = setup(ctx, op, g)?;
    check(ctx, op, &[("dy", dy, g.planes * plane)])?;
    let n = g.planes * g.h * g.w;
    let dx = GpuBuffer::uninit(ctx, n)?;
    if n > 0 {
        ctx.dispatch_typed(&AVG_BACKWARD, "avg_pool2d_backward", &params, &[dy.raw(), dx.raw()], grid_1d(ctx, op, n)?)?;
    }
    Ok(dx)
}
