//! Reductions along one axis (twins of `cpu::reduce` / `cpu::arg_reduce`).

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::{AxisSplit, ReduceOp};
use std::sync::Arc;

const SHADER: Shader = Shader::checked("reduce", concat!(include_str!("common.wgsl"), include_str!("reduce.wgsl")));

/// `ReduceParams` of reduce.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    outer: u32,
    len: u32,
    inner: u32,
    op: u32,
}

/// Axis length from which a contiguous (`inner == 1`) reduction uses a workgroup tree per output.
const TREE_MIN_LEN: usize = 64;

fn params(ctx: &GpuContext, name: &'static str, split: AxisSplit, op: u32) -> GpuResult<ReduceParams> {
    Ok(ReduceParams {
        outer: u32_of(ctx, name, split.outer)?,
        len: u32_of(ctx, name, split.len)?,
        inner: u32_of(ctx, name, split.inner)?,
        op,
    })
}

/// `out[o, i] = op over j of x[o, j, i]`, `outer * inner` outputs. An empty axis gives the
/// identity (0, -inf, +inf). Contiguous long axes use a workgroup tree reduction, so sums may
/// differ from the CPU's serial order by rounding.
pub fn reduce(ctx: &Arc<GpuContext>, op: ReduceOp, x: &GpuBuffer, split: AxisSplit) -> GpuResult<GpuBuffer> {
    let name = "reduce";
    check(ctx, name, &[("x", x, split.numel())])?;
    let n = split.outer * split.inner;
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    let code = match op {
        ReduceOp::Sum => 0,
        ReduceOp::Max => 1,
        ReduceOp::Min => 2,
    };
    let params = params(ctx, name, split, code)?;
    if split.inner == 1 && split.len >= TREE_MIN_LEN {
        ctx.dispatch_typed(
            &SHADER,
            "reduce_rows",
            &params,
            &[x.raw(), out.raw()],
            ctx.grid(name, split.outer as u64)?,
        )?;
    } else {
        ctx.dispatch_typed(&SHADER, "reduce_cols", &params, &[x.raw(), out.raw()], grid_1d(ctx, name, n)?)?;
    }
    Ok(out)
}

/// Index (as f32) of the first max (`want_max`) or min along the axis. The axis must not be empty.
pub fn arg_reduce(ctx: &Arc<GpuContext>, want_max: bool, x: &GpuBuffer, split: AxisSplit) -> GpuResult<GpuBuffer> {
    let name = if want_max { "argmax" } else { "argmin" };
    check(ctx, name, &[("x", x, split.numel())])?;
    if split.len == 0 {
        return Err(ctx.error(name, "the reduced axis is empty"));
    }
    let n = split.outer * split.inner;
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    let params = params(ctx, name, split, u32::from(want_max))?;
    ctx.dispatch_typed(&SHADER, "arg_reduce", &params, &[x.raw(), out.raw()], grid_1d(ctx, name, n)?)?;
    Ok(out)
}
