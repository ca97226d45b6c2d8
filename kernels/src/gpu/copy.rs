//! Strided copies (permute, narrow, broadcast, concat) and fills (twins of `cpu::copy`).

use super::context::GpuContext;
use super::launch::{check, check_rank, dims8, grid_1d, u32_of, MAX_RANK};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::contiguous_strides;
use std::sync::Arc;

const SHADER: Shader = Shader::checked("copy", concat!(include_str!("common.wgsl"), include_str!("copy.wgsl")));

const FILL: Shader = Shader::checked("fill", concat!(include_str!("common.wgsl"), include_str!("fill.wgsl")));

/// `CopyParams` of copy.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    /// Threads: elements of the view (strided_copy) or distinct destination elements.
    n: u32,
    /// Source elements each strided_add_into thread sums (broadcast dims).
    n_reduce: u32,
    rank: u32,
    offset: u32,
    shape: [u32; MAX_RANK],
    /// The view's strides: of the source (strided_copy) or the destination (strided_add_into).
    strides: [u32; MAX_RANK],
    /// strided_add_into: the contiguous source's strides.
    src_strides: [u32; MAX_RANK],
}

/// `FillParams` of fill.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FillParams {
    n: u32,
    value: f32,
    pad: [u32; 2],
}

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
    let params = CopyParams {
        n: u32_of(ctx, name, n)?,
        n_reduce: 0,
        rank: shape.len() as u32,
        offset: u32_of(ctx, name, offset)?,
        shape: dims8(ctx, name, shape, 1)?,
        strides: dims8(ctx, name, strides, 0)?,
        src_strides: [0; MAX_RANK],
    };
    ctx.dispatch_typed(&SHADER, "strided_copy", &params, &[src.raw(), out.raw()], grid_1d(ctx, name, n)?)?;
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
    let params = CopyParams {
        n: u32_of(ctx, name, n_write)?,
        n_reduce: u32_of(ctx, name, n_reduce)?,
        rank: shape.len() as u32,
        offset: u32_of(ctx, name, offset)?,
        shape: dims8(ctx, name, shape, 1)?,
        strides: dims8(ctx, name, strides, 0)?,
        src_strides: dims8(ctx, name, &contiguous_strides(shape), 0)?,
    };
    ctx.dispatch_typed(&SHADER, "strided_add_into", &params, &[src.raw(), dst.raw()], grid_1d(ctx, name, n_write)?)
}

/// `len` copies of `value`.
pub fn fill(ctx: &Arc<GpuContext>, len: usize, value: f32) -> GpuResult<GpuBuffer> {
    let name = "fill";
    let out = GpuBuffer::uninit(ctx, len)?;
    if len == 0 {
        return Ok(out);
    }
    let params = FillParams { n: u32_of(ctx, name, len)?, value, pad: [0; 2] };
    ctx.dispatch_typed(&FILL, "fill", &params, &[out.raw()], grid_1d(ctx, name, len)?)?;
    Ok(out)
}
