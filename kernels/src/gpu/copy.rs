//! Strided copies (permute, narrow, broadcast, concat) and fills (twins of `cpu::copy`).

use super::context::{GpuContext, Shader};
use super::launch::{check, check_rank, grid_1d, push_dims, u32_of};
use super::{GpuBuffer, GpuResult};
use crate::contiguous_strides;
use std::sync::Arc;

const SHADER: Shader = Shader { name: "copy", source: concat!(include_str!("common.wgsl"), include_str!("copy.wgsl")) };

const FILL: Shader = Shader { name: "fill", source: concat!(include_str!("common.wgsl"), include_str!("fill.wgsl")) };

/// Refuses a view whose last element lies past `len`.
fn check_view(
    ctx: &GpuContext,
    op: &'static str,
    len: usize,
    offset: usize,
    strides: &[usize],
    shape: &[usize],
) -> GpuResult<()> {
    if strides.len() != shape.len() {
        return Err(ctx.error(op, format!("{} strides for a rank-{} view", strides.len(), shape.len())));
    }
    check_rank(ctx, op, shape.len())?;
    if shape.contains(&0) {
        return Ok(());
    }
    let last = offset + shape.iter().zip(strides).map(|(d, s)| (d - 1) * s).sum::<usize>();
    if last >= len {
        return Err(ctx.error(op, format!("the view reaches element {last} of a buffer of {len}")));
    }
    Ok(())
}

/// The strided view of `src` (element `idx` at `offset + Σ idx[d] * strides[d]`) as a new
/// contiguous buffer. Stride 0 repeats (broadcast); permuted strides transpose.
pub fn strided_copy(
    ctx: &Arc<GpuContext>,
    src: &GpuBuffer,
    offset: usize,
    strides: &[usize],
    shape: &[usize],
) -> GpuResult<GpuBuffer> {
    let name = "strided_copy";
    check(ctx, name, &[("src", src, src.len())])?;
    let n: usize = shape.iter().product();
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    check_view(ctx, name, src.len(), offset, strides, shape)?;
    let mut params = vec![u32_of(ctx, name, n)?, shape.len() as u32, u32_of(ctx, name, offset)?, 0];
    push_dims(ctx, name, &mut params, shape, 1)?;
    push_dims(ctx, name, &mut params, strides, 0)?;
    ctx.dispatch(&SHADER, "strided_copy", &params, &[src.raw(), out.raw()], grid_1d(ctx, name, n)?)?;
    Ok(out)
}

/// Adds contiguous `src` (of `shape`) into the strided view of `dst`, in place: the adjoint of
/// [`strided_copy`]. Dims of stride 0 (broadcast views) are summed deterministically; other dims
/// must not make the view overlap itself (as for the CPU twin).
pub fn strided_add_into(
    ctx: &Arc<GpuContext>,
    dst: &GpuBuffer,
    offset: usize,
    strides: &[usize],
    shape: &[usize],
    src: &GpuBuffer,
) -> GpuResult<()> {
    let name = "strided_add_into";
    let n: usize = shape.iter().product();
    check(ctx, name, &[("dst", dst, dst.len()), ("src", src, n)])?;
    if dst.same_buffer(src) {
        return Err(ctx.error(name, "the source may not alias the destination"));
    }
    if n == 0 {
        return Ok(());
    }
    check_view(ctx, name, dst.len(), offset, strides, shape)?;
    let n_write: usize = shape.iter().zip(strides).filter(|(_, &s)| s != 0).map(|(d, _)| d).product();
    let n_reduce = n / n_write;
    let mut params =
        vec![u32_of(ctx, name, n_write)?, u32_of(ctx, name, n_reduce)?, shape.len() as u32, u32_of(ctx, name, offset)?];
    push_dims(ctx, name, &mut params, shape, 1)?;
    push_dims(ctx, name, &mut params, strides, 0)?;
    push_dims(ctx, name, &mut params, &contiguous_strides(shape), 0)?;
    ctx.dispatch(&SHADER, "strided_add_into", &params, &[src.raw(), dst.raw()], grid_1d(ctx, name, n_write)?)
}

/// `len` copies of `value`.
pub fn fill(ctx: &Arc<GpuContext>, len: usize, value: f32) -> GpuResult<GpuBuffer> {
    let name = "fill";
    let out = GpuBuffer::uninit(ctx, len)?;
    if len == 0 {
        return Ok(out);
    }
    let params = [u32_of(ctx, name, len)?, value.to_bits()];
    ctx.dispatch(&FILL, "fill", &params, &[out.raw()], grid_1d(ctx, name, len)?)?;
    Ok(out)
}
