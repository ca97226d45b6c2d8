//! The sentence-encoder kernels (twins of `cpu::masked_mean`, `cpu::l2_normalize` and
//! `cpu::embedding_sum`): masked mean pooling, row L2 normalisation and the sum of embedding
//! lookups, with their gradients.

use super::context::GpuContext;
use super::gather::checked_indices;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use std::sync::Arc;

const MASKED_MEAN: Shader = Shader::checked(
    "masked_mean",
    concat!(include_str!("common.wgsl"), include_str!("seq_params.wgsl"), include_str!("masked_mean.wgsl")),
);
const MASKED_MEAN_BACKWARD: Shader = Shader::checked(
    "masked_mean_backward",
    concat!(include_str!("common.wgsl"), include_str!("seq_params.wgsl"), include_str!("masked_mean_backward.wgsl")),
);
const L2_NORMALIZE: Shader = Shader::checked(
    "l2_normalize",
    concat!(include_str!("common.wgsl"), include_str!("l2_params.wgsl"), include_str!("l2_normalize.wgsl")),
);
const L2_NORMALIZE_BACKWARD: Shader = Shader::checked(
    "l2_normalize_backward",
    concat!(include_str!("common.wgsl"), include_str!("l2_params.wgsl"), include_str!("l2_normalize_backward.wgsl")),
);
const EMBEDDING_SUM: Shader =
    Shader::checked("embedding_sum", concat!(include_str!("common.wgsl"), include_str!("embedding_sum.wgsl")));

/// `[batch, seq, hidden]` as kernel parameters.
/// `SeqParams` of seq_params.wgsl (masked_mean.wgsl and its backward).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SeqParams {
    batch: u32,
    seq: u32,
    hidden: u32,
    pad: [u32; 1],
}
/// `L2Params` of l2_params.wgsl (l2_normalize.wgsl and its backward).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct L2Params {
    rows: u32,
    len: u32,
    eps: f32,
    pad: [u32; 1],
}
/// `EmbeddingParams` of embedding_sum.wgsl.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbeddingParams {
    rows: u32,
    hidden: u32,
    /// 1 for every table after the first.
    accumulate: u32,
    pad: [u32; 1],
}

fn dims(ctx: &GpuContext, op: &'static str, [b, t, h]: [usize; 3]) -> GpuResult<SeqParams> {
    u32_of(ctx, op, b * t * h)?;
    Ok(SeqParams { batch: u32_of(ctx, op, b)?, seq: u32_of(ctx, op, t)?, hidden: u32_of(ctx, op, h)?, pad: [0; 1] })
}

/// `[batch, hidden]`: the mean of `h` `[batch, seq, hidden]` over the tokens, weighted by `mask`.
pub fn masked_mean(ctx: &Arc<GpuContext>, h: &GpuBuffer, mask: &GpuBuffer, shape: [usize; 3]) -> GpuResult<GpuBuffer> {
    let op = "masked_mean";
    let [b, t, n] = shape;
    check(ctx, op, &[("h", h, b * t * n), ("mask", mask, b * t)])?;
    let params = dims(ctx, op, shape)?;
    let out = GpuBuffer::uninit(ctx, b * n)?;
    if b * n > 0 {
        ctx.dispatch_typed(&MASKED_MEAN, op, &params, &[h.raw(), mask.raw(), out.raw()], grid_1d(ctx, op, b * n)?)?;
    }
    Ok(out)
}

/// The input gradient `[batch, seq, hidden]` of [`masked_mean`] from the upstream `g`.
pub fn masked_mean_backward(
    ctx: &Arc<GpuContext>,
    mask: &GpuBuffer,
    g: &GpuBuffer,
    shape: [usize; 3],
) -> GpuResult<GpuBuffer> {
    let op = "masked_mean_backward";
    let [b, t, n] = shape;
    check(ctx, op, &[("mask", mask, b * t), ("g", g, b * n)])?;
    let params = dims(ctx, op, shape)?;
    let dh = GpuBuffer::uninit(ctx, b * t * n)?;
    if b * t * n > 0 {
        let grid = grid_1d(ctx, op, b * t)?;
        ctx.dispatch_typed(&MASKED_MEAN_BACKWARD, op, &params, &[mask.raw(), g.raw(), dh.raw()], grid)?;
    }
    Ok(dh)
}

/// `(y, norms)`: rows of `len` of `x` divided by `max(‖row‖, eps)`, and each row's norm.
pub fn l2_normalize(ctx: &Arc<GpuContext>, x: &GpuBuffer, len: usize, eps: f32) -> GpuResult<(GpuBuffer, GpuBuffer)> {
    let op = "l2_normalize";
    if len == 0 || !x.len().is_multiple_of(len) {
        return Err(ctx.error(op, format!("`x` has {} elements, not rows of {len}", x.len())));
    }
    let rows = x.len() / len;
    let (y, norms) = (GpuBuffer::uninit(ctx, x.len())?, GpuBuffer::uninit(ctx, rows)?);
    if rows > 0 {
        let params = L2Params { rows: u32_of(ctx, op, rows)?, len: u32_of(ctx, op, len)?, eps, pad: [0; 1] };
        ctx.dispatch_typed(&L2_NORMALIZE, op, &params, &[x.raw(), y.raw(), norms.raw()], grid_1d(ctx, op, rows)?)?;
    }
    Ok((y, norms))
}

/// The input gradient of [`l2_normalize`] from its output `y`, its row `norms` and `g`.
pub fn l2_normalize_backward(
    ctx: &Arc<GpuContext>,
    y: &GpuBuffer,
    norms: &GpuBuffer,
    g: &GpuBuffer,
    eps: f32,
) -> GpuResult<GpuBuffer> {
    let op = "l2_normalize_backward";
    let rows = norms.len();
    if rows == 0 || !y.len().is_multiple_of(rows) {
        return Err(ctx.error(op, format!("`y` has {} elements, not {rows} rows", y.len())));
    }
    check(ctx, op, &[("g", g, y.len())])?;
    let dx = GpuBuffer::uninit(ctx, y.len())?;
    let params = L2Params { rows: u32_of(ctx, op, rows)?, len: u32_of(ctx, op, y.len() / rows)?, eps, pad: [0; 1] };
    let buffers = [y.raw(), norms.raw(), g.raw(), dx.raw()];
    ctx.dispatch_typed(&L2_NORMALIZE_BACKWARD, op, &params, &buffers, grid_1d(ctx, op, rows)?)?;
    Ok(dx)
}

/// `[n, hidden]`: `Σ_t tables[t][indices[t][i]]` for each output row `i`, one launch per table.
pub fn embedding_sum(
    ctx: &Arc<GpuContext>,
    tables: &[&GpuBuffer],
    indices: &[&[usize]],
    hidden: usize,
) -> GpuResult<GpuBuffer> {
    let op = "embedding_sum";
    let n = indices.first().map_or(0, |i| i.len());
    if hidden == 0 || tables.is_empty() || tables.len() != indices.len() || indices.iter().any(|i| i.len() != n) {
        return Err(ctx.error(op, "one index list of equal length per table, and rows of ≥ 1 feature".to_string()));
    }
    let out = GpuBuffer::uninit(ctx, n * hidden)?;
    if n == 0 {
        return Ok(out);
    }
    let grid = grid_1d(ctx, op, n * hidden)?;
    for (t, (table, idx)) in tables.iter().zip(indices).enumerate() {
        let rows = table.len() / hidden;
        if table.len() != rows * hidden {
            return Err(ctx.error(op, format!("table {t} has {} elements, not rows of {hidden}", table.len())));
        }
        let idx = GpuBuffer::from_u32(ctx, &checked_indices(ctx, op, idx, rows)?)?;
        let params = EmbeddingParams {
            rows: u32_of(ctx, op, n)?,
            hidden: u32_of(ctx, op, hidden)?,
            accumulate: u32::from(t > 0),
            pad: [0; 1],
        };
        ctx.dispatch_typed(&EMBEDDING_SUM, op, &params, &[table.raw(), idx.raw(), out.raw()], grid)?;
    }
    Ok(out)
}
