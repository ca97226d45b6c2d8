//! Multi-head attention with a key padding mask and its gradients (twins of `cpu::attention`),
//! one thread per (batch entry, head, query) forward and in the first backward pass, one per
//! (batch entry, head, key) in the second.

use super::context::GpuContext;
use super::launch::{check, grid_1d, u32_of};
use super::pipeline::Shader;
use super::{GpuBuffer, GpuResult};
use crate::cpu::AttentionShape;
use std::sync::Arc;

const FORWARD: Shader = Shader::checked(
    "attention",
    concat!(include_str!("common.wgsl"), include_str!("attention_params.wgsl"), include_str!("attention.wgsl")),
);
const BACKWARD_QUERY: Shader = Shader::checked(
    "attention_backward_query",
    concat!(
        include_str!("common.wgsl"),
        include_str!("attention_params.wgsl"),
        include_str!("attention_backward_query.wgsl")
    ),
);
const BACKWARD_KEYS: Shader = Shader::checked(
    "attention_backward_keys",
    concat!(
        include_str!("common.wgsl"),
        include_str!("attention_params.wgsl"),
        include_str!("attention_backward_keys.wgsl")
    ),
);

/// The kernels' parameters, refusing sizes past their 32-bit indices.
/// `AttentionParams` of attention_params.wgsl (the three attention shaders).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AttentionParams {
    batch: u32,
    seq: u32,
    heads: u32,
    head_dim: u32,
    /// The scores' scale, `1/√head_dim`.
    scale: f32,
    pad: [u32; 3],
}

fn params(ctx: &Arc<GpuContext>, op: &'static str, s: AttentionShape) -> GpuResult<AttentionParams> {
    u32_of(ctx, op, s.probs_len().max(s.numel()))?;
    let u = |v: usize| u32_of(ctx, op, v);
    Ok(AttentionParams {
        batch: u(s.batch)?,
        seq: u(s.seq)?,
        heads: u(s.heads)?,
        head_dim: u(s.head_dim)?,
        scale: s.scale(),
        pad: [0; 3],
    })
}

/// `(out, probs)`: the context `[batch, seq, hidden]` and the softmax weights
/// `[batch, heads, seq, seq]`.
pub fn attention(
    ctx: &Arc<GpuContext>,
    [q, k, v, mask]: [&GpuBuffer; 4],
    s: AttentionShape,
) -> GpuResult<(GpuBuffer, GpuBuffer)> {
    let op = "attention";
    let n = s.numel();
    check(ctx, op, &[("q", q, n), ("k", k, n), ("v", v, n), ("mask", mask, s.batch * s.seq)])?;
    let params = params(ctx, op, s)?;
    let (out, probs) = (GpuBuffer::uninit(ctx, n)?, GpuBuffer::uninit(ctx, s.probs_len())?);
    if n > 0 {
        let buffers = [q.raw(), k.raw(), v.raw(), mask.raw(), out.raw(), probs.raw()];
        ctx.dispatch_typed(&FORWARD, op, &params, &buffers, grid_1d(ctx, op, s.batch * s.heads * s.seq)?)?;
    }
    Ok((out, probs))
}

/// `[dq, dk, dv]` from the forward's inputs, its `probs` and the upstream `dout`.
pub fn attention_backward(
    ctx: &Arc<GpuContext>,
    [q, k, v, mask]: [&GpuBuffer; 4],
    probs: &GpuBuffer,
    dout: &GpuBuffer,
    s: AttentionShape,
) -> GpuResult<[GpuBuffer; 3]> {
    let op = "attention_backward";
    let n = s.numel();
    check(ctx, op, &[("q", q, n), ("k", k, n), ("v", v, n), ("mask", mask, s.batch * s.seq)])?;
    check(ctx, op, &[("probs", probs, s.probs_len()), ("dout", dout, n)])?;
    let params = params(ctx, op, s)?;
    let ds = GpuBuffer::uninit(ctx, s.probs_len())?;
    let [dq, dk, dv] = [GpuBuffer::uninit(ctx, n)?, GpuBuffer::uninit(ctx, n)?, GpuBuffer::uninit(ctx, n)?];
    if n > 0 {
        let grid = grid_1d(ctx, op, s.batch * s.heads * s.seq)?;
        let buffers = [dout.raw(), v.raw(), k.raw(), probs.raw(), ds.raw(), dq.raw()];
        ctx.dispatch_typed(&BACKWARD_QUERY, "attention_backward_query", &params, &buffers, grid)?;
        let buffers = [q.raw(), dout.raw(), probs.raw(), ds.raw(), dk.raw(), dv.raw()];
        ctx.dispatch_typed(&BACKWARD_KEYS, "attention_backward_keys", &params, &buffers, grid)?;
    }
    Ok([dq, dk, dv])
}
