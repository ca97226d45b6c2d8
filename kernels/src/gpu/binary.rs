//! Elementwise binary kernels with NumPy broadcasting (twin of `cpu::binary`).

use super::context::GpuContext;
use super::launch::{check, check_rank, dims8, grid_1d, u32_of, MAX_RANK};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::layout::broadcast_strides;
use crate::{broadcast_shape, BinaryOp};
use std::sync::Arc;

const SHADER: Shader = Shader::checked("binary", concat!(include_str!("common.wgsl"), include_str!("binary.wgsl")));

/// `BinaryParams` of binary.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BinaryParams {
    n: u32,
    op: u32,
    rank: u32,
    /// 1 when both inputs already have the output's shape (no index arithmetic).
    same_shape: u32,
    out_shape: [u32; MAX_RANK],
    a_strides: [u32; MAX_RANK],
    b_strides: [u32; MAX_RANK],
}

fn op_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Pow => 4,
        BinaryOp::Max => 5,
        BinaryOp::Min => 6,
        BinaryOp::Eq => 7,
        BinaryOp::Ne => 8,
        BinaryOp::Lt => 9,
        BinaryOp::Le => 10,
        BinaryOp::Gt => 11,
        BinaryOp::Ge => 12,
    }
}

/// `out = op(a, b)` where `a` (of `a_shape`) and `b` (of `b_shape`) broadcast to `out_shape`.
/// Broadcast strides travel in the kernel's uniform block; ranks up to 8 are supported.
pub fn binary(
    ctx: &Arc<GpuContext>,
    op: BinaryOp,
    a: &GpuBuffer,
    a_shape: &[usize],
    b: &GpuBuffer,
    b_shape: &[usize],
    out_shape: &[usize],
) -> GpuResult<GpuBuffer> {
    let name = op.name();
    if broadcast_shape(a_shape, b_shape).as_deref() != Some(out_shape) {
        return Err(ctx.error(name, format!("{a_shape:?} and {b_shape:?} do not broadcast to {out_shape:?}")));
    }
    check(ctx, name, &[("a", a, a_shape.iter().product()), ("b", b, b_shape.iter().product())])?;
    check_rank(ctx, name, out_shape.len())?;
    let n: usize = out_shape.iter().product();
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    let same = a.len() == n && b.len() == n;
    let params = BinaryParams {
        n: u32_of(ctx, name, n)?,
        op: op_code(op),
        rank: out_shape.len() as u32,
        same_shape: u32::from(same),
        out_shape: dims8(ctx, name, out_shape, 1)?,
        a_strides: dims8(ctx, name, &broadcast_strides(a_shape, out_shape), 0)?,
        b_strides: dims8(ctx, name, &broadcast_strides(b_shape, out_shape), 0)?,
    };
    ctx.dispatch_typed(&SHADER, "binary", &params, &[a.raw(), b.raw(), out.raw()], grid_1d(ctx, name, n)?)?;
    Ok(out)
}
