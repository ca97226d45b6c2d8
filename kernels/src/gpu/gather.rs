//! Index-based kernels: index_select / index_add (embeddings) and gather / scatter-add along an
//! axis (twins of `cpu::gather`). Indices come from the host, as for the CPU, and are checked.
//! Scatters invert the index map on the host (a stable counting sort) so the device runs one thread
//! per destination element, adding its sources in the CPU's order: deterministic, no atomics.

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::AxisSplit;
use std::sync::Arc;

const GATHER: Shader = Shader::checked("gather", concat!(include_str!("common.wgsl"), include_str!("gather.wgsl")));
const SCATTER: Shader = Shader::checked("scatter", concat!(include_str!("common.wgsl"), include_str!("scatter.wgsl")));

/// Indices as u32, refusing any `>= len`.
pub(crate) fn checked_indices(ctx: &GpuContext, op: &'static str, idx: &[usize], len: usize) -> GpuResult<Vec<u32>> {
    idx.iter()
        .map(|&j| {
            if j >= len {
                Err(ctx.error(op, format!("index {j} is out of range for an axis of {len}")))
            } else {
                u32_of(ctx, op, j)
            }
        })
        .collect()
}

/// Adds `src[s]` into `dst[targets[s]]` for every `s`, deterministically.
fn scatter(
    ctx: &Arc<GpuContext>,
    op: &'static str,
    dst: &GpuBuffer,
    targets: &[u32],
    src: &GpuBuffer,
) -> GpuResult<()> {
    let n_dst = dst.len();
    let mut starts = vec![0u32; n_dst + 1];
    for &d in targets {
        starts[d as usize + 1] += 1;
    }
    for d in 0..n_dst {
        starts[d + 1] += starts[d];
    }
    let mut next = starts.clone();
    let mut sources = vec![0u32; targets.len()];
    for (s, &d) in targets.iter().enumerate() {
        sources[next[d as usize] as usize] = s as u32;
        next[d as usize] += 1;
    }
    let starts = GpuBuffer::from_u32(ctx, &starts)?;
    let sources = GpuBuffer::from_u32(ctx, &sources)?;
    let params = ScatterParams { n_dst: u32_of(ctx, op, n_dst)?, pad: [0; 3] };
    let buffers = [starts.raw(), sources.raw(), src.raw(), dst.raw()];
    ctx.dispatch_typed(&SCATTER, "scatter_add", &params, &buffers, grid_1d(ctx, op, n_dst)?)
}

/// `GatherParams` of gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GatherParams {
    outer: u32,
    len: u32,
    inner: u32,
    idx_len: u32,
}
/// `ScatterParams` of scatter.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ScatterParams {
    n_dst: u32,
    pad: [u32; 3],
}

fn gather_params(ctx: &GpuContext, op: &'static str, split: AxisSplit, idx_len: usize) -> GpuResult<GatherParams> {
    Ok(GatherParams {
        outer: u32_of(ctx, op, split.outer)?,
        len: u32_of(ctx, op, split.len)?,
        inner: u32_of(ctx, op, split.inner)?,
        idx_len: u32_of(ctx, op, idx_len)?,
    })
}

/// `out[o, t, i] = x[o, idx[t], i]`, with `out` split as `[outer, idx.len(), inner]`.
pub fn index_select(ctx: &Arc<GpuContext>, x: &GpuBuffer, split: AxisSplit, idx: &[usize]) -> GpuResult<GpuBuffer> {
    let op = "index_select";
    check(ctx, op, &[("x", x, split.numel())])?;
    let n = split.outer * idx.len() * split.inner;
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    let gidx = GpuBuffer::from_u32(ctx, &checked_indices(ctx, op, idx, split.len)?)?;
    let params = gather_params(ctx, op, split, idx.len())?;
    ctx.dispatch_typed(&GATHER, "index_select", &params, &[x.raw(), gidx.raw(), out.raw()], grid_1d(ctx, op, n)?)?;
    Ok(out)
}

/// `dst[o, idx[t], i] += src[o, t, i]` in place: the adjoint of [`index_select`]; repeated
/// indices add up in index order.
pub fn index_add(
    ctx: &Arc<GpuContext>,
    dst: &GpuBuffer,
    split: AxisSplit,
    idx: &[usize],
    src: &GpuBuffer,
) -> GpuResult<()> {
    let op = "index_add";
    let AxisSplit { outer, len, inner } = split;
    check(ctx, op, &[("dst", dst, split.numel()), ("src", src, outer * idx.len() * inner)])?;
    if dst.same_buffer(src) {
        return Err(ctx.error(op, "the source may not alias the destination"));
    }
    if src.is_empty() {
        return Ok(());
    }
    let idx = checked_indices(ctx, op, idx, len)?;
    let mut targets = Vec::with_capacity(src.len());
    for o in 0..outer {
        for &j in &idx {
            let base = u32_of(ctx, op, (o * len + j as usize) * inner)?;
            targets.extend((0..inner as u32).map(|i| base + i));
        }
    }
    scatter(ctx, op, dst, &targets, src)
}

/// `out[o, t, i] = x[o, idx[o, t, i], i]`, where `idx` and `out` are `[outer, idx_len, inner]`.
pub fn gather_axis(
    ctx: &Arc<GpuContext>,
    x: &GpuBuffer,
    split: AxisSplit,
    idx: &[usize],
    idx_len: usize,
) -> GpuResult<GpuBuffer> {
    let op = "gather_axis";
    let n = split.outer * idx_len * split.inner;
    check(ctx, op, &[("x", x, split.numel())])?;
    if idx.len() != n {
        return Err(ctx.error(op, format!("{} indices for an output of {n}", idx.len())));
    }
    let out = GpuBuffer::uninit(ctx, n)?;
    if n == 0 {
        return Ok(out);
    }
    let gidx = GpuBuffer::from_u32(ctx, &checked_indices(ctx, op, idx, split.len)?)?;
    let params = gather_params(ctx, op, split, idx_len)?;
    ctx.dispatch_typed(&GATHER, "gather_axis", &params, &[x.raw(), gidx.raw(), out.raw()], grid_1d(ctx, op, n)?)?;
    Ok(out)
}

/// `dst[o, idx[o, t, i], i] += src[o, t, i]` in place: the adjoint of [`gather_axis`].
pub fn scatter_add_axis(
    ctx: &Arc<GpuContext>,
    dst: &GpuBuffer,
    split: AxisSplit,
    idx: &[usize],
    idx_len: usize,
    src: &GpuBuffer,
) -> GpuResult<()> {
    let op = "scatter_add_axis";
    let AxisSplit { len, inner, .. } = split;
    let n = split.outer * idx_len * inner;
    check(ctx, op, &[("dst", dst, split.numel()), ("src", src, n)])?;
    if idx.len() != n {
        return Err(ctx.error(op, format!("{} indices for a source of {n}", idx.len())));
    }
    if dst.same_buffer(src) {
        return Err(ctx.error(op, "the source may not alias the destination"));
    }
    if n == 0 {
        return Ok(());
    }
    let idx = checked_indices(ctx, op, idx, len)?;
    let targets = idx
        .iter()
        .enumerate()
        .map(|(pos, &j)| u32_of(ctx, op, (pos / (idx_len * inner) * len + j as usize) * inner + pos % inner))
        .collect::<GpuResult<Vec<u32>>>()?;
    scatter(ctx, op, dst, &targets, src)
}
