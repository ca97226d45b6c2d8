//! Elementwise unary kernels and their derivatives (twins of `cpu::unary`).

use super::context::{GpuContext, Shader};
use super::launch::{check, grid_1d, u32_of};
use super::{GpuBuffer, GpuResult};
use crate::UnaryOp;
use std::sync::Arc;

const FORWARD: Shader =
    Shader { name: "unary", source: concat!(include_str!("common.wgsl"), include_str!("unary.wgsl")) };
const BACKWARD: Shader = Shader {
    name: "unary_backward",
    source: concat!(include_str!("common.wgsl"), include_str!("unary_backward.wgsl")),
};

/// The op's code in the shaders and its scalar argument.
fn op_code(op: UnaryOp) -> (u32, f32) {
    match op {
        UnaryOp::Neg => (0, 0.0),
        UnaryOp::Exp => (1, 0.0),
        UnaryOp::Log => (2, 0.0),
        UnaryOp::Sqrt => (3, 0.0),
        UnaryOp::Abs => (4, 0.0),
        UnaryOp::Relu => (5, 0.0),
        UnaryOp::LeakyRelu(s) => (6, s),
        UnaryOp::Sigmoid => (7, 0.0),
        UnaryOp::Tanh => (8, 0.0),
        UnaryOp::Gelu => (9, 0.0),
        UnaryOp::Recip => (10, 0.0),
        UnaryOp::Square => (11, 0.0),
        UnaryOp::MulScalar(c) => (12, c),
        UnaryOp::AddScalar(c) => (13, c),
        UnaryOp::PowScalar(c) => (14, c),
    }
}

/// `out[i] = op(x[i])`.
pub fn unary(ctx: &Arc<GpuContext>, op: UnaryOp, x: &GpuBuffer) -> GpuResult<GpuBuffer> {
    let name = "unary";
    check(ctx, name, &[("x", x, x.len())])?;
    let out = GpuBuffer::uninit(ctx, x.len())?;
    if x.is_empty() {
        return Ok(out);
    }
    let (code, c) = op_code(op);
    let params = [u32_of(ctx, name, x.len())?, code, c.to_bits()];
    ctx.dispatch(&FORWARD, "unary", &params, &[x.raw(), out.raw()], grid_1d(ctx, name, x.len())?)?;
    Ok(out)
}

/// `dx[i] = dy[i] * op'(x[i])`, given the forward input `x` and output `y`.
pub fn unary_backward(
    ctx: &Arc<GpuContext>,
    op: UnaryOp,
    x: &GpuBuffer,
    y: &GpuBuffer,
    dy: &GpuBuffer,
) -> GpuResult<GpuBuffer> {
    let name = "unary_backward";
    let n = x.len();
    check(ctx, name, &[("x", x, n), ("y", y, n), ("dy", dy, n)])?;
    let dx = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(dx);
    }
    let (code, c) = op_code(op);
    let params = [u32_of(ctx, name, n)?, code, c.to_bits()];
    ctx.dispatch(
        &BACKWARD,
        "unary_backward",
        &params,
        &[x.raw(), y.raw(), dy.raw(), dx.raw()],
        grid_1d(ctx, name, n)?,
    )?;
    Ok(dx)
}
