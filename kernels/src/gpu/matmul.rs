//! Tiled, register-blocked batched matmul with transpose flags (twin of `cpu::matmul`).

use super::context::{GpuContext, Shader};
use super::launch::{check, u32_of};
use super::{GpuBuffer, GpuResult};
use crate::cpu::MatmulSpec;
use std::sync::Arc;

const SHADER: Shader =
    Shader { name: "matmul", source: concat!(include_str!("common.wgsl"), include_str!("matmul.wgsl")) };

/// Output tile of one workgroup (`TM`/`TN` in matmul.wgsl).
const TILE: usize = 64;

/// The entry point of matmul.wgsl for `spec`: each operand is staged with vec4 loads when its
/// stored contiguous dimension (k for A, m for Aᵀ, n for B, k for Bᵀ) and its batch stride are
/// multiples of 4 (so every vec4 the kernel reads is aligned and wholly inside or outside the
/// matrix), and one float at a time otherwise.
pub(crate) fn entry_point(spec: &MatmulSpec) -> &'static str {
    let a_contiguous = if spec.trans_a { spec.m } else { spec.k };
    let b_contiguous = if spec.trans_b { spec.k } else { spec.n };
    let a4 = a_contiguous.is_multiple_of(4) && spec.a_batch_stride.is_multiple_of(4);
    let b4 = b_contiguous.is_multiple_of(4) && spec.b_batch_stride.is_multiple_of(4);
    match (a4, b4) {
        (false, false) => "matmul",
        (true, false) => "matmul_a4",
        (false, true) => "matmul_b4",
        (true, true) => "matmul_a4b4",
    }
}

/// Elements of A (or B) that batch `batch` reaches under `spec`.
fn operand_len(batch: usize, stride: usize, rows: usize, cols: usize) -> usize {
    if batch == 0 || rows * cols == 0 {
        0
    } else {
        (batch - 1) * stride + rows * cols
    }
}

/// `op(A[b]) · op(B[b])` for every batch entry, into a new `[batch, m, n]` buffer.
/// `spec.accumulate` must be false here; use [`matmul_into`] to add into an existing buffer.
pub fn matmul(ctx: &Arc<GpuContext>, a: &GpuBuffer, b: &GpuBuffer, spec: MatmulSpec) -> GpuResult<GpuBuffer> {
    if spec.accumulate {
        return Err(ctx.error("matmul", "accumulate needs an existing output: use matmul_into"));
    }
    let out = GpuBuffer::uninit(ctx, spec.batch * spec.m * spec.n)?;
    matmul_into(ctx, a, b, &out, spec)?;
    Ok(out)
}

/// `out[b] (=|+=) op(A[b]) · op(B[b])`, writing into `out` (`[batch, m, n]`, contiguous).
/// A batch stride of 0 reuses one matrix for every batch entry.
pub fn matmul_into(
    ctx: &Arc<GpuContext>,
    a: &GpuBuffer,
    b: &GpuBuffer,
    out: &GpuBuffer,
    spec: MatmulSpec,
) -> GpuResult<()> {
    let name = "matmul";
    let MatmulSpec { batch, m, n, k, .. } = spec;
    let need_a = operand_len(batch, spec.a_batch_stride, m, k);
    let need_b = operand_len(batch, spec.b_batch_stride, k, n);
    if a.len() < need_a || b.len() < need_b {
        return Err(ctx.error(
            name,
            format!("{spec:?} reads {need_a} elements of A and {need_b} of B, got {} and {}", a.len(), b.len()),
        ));
    }
    check(ctx, name, &[("a", a, a.len()), ("b", b, b.len()), ("out", out, batch * m * n)])?;
    if out.same_buffer(a) || out.same_buffer(b) {
        return Err(ctx.error(name, "the output may not alias an input"));
    }
    if batch * m * n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !spec.accumulate {
            ctx.record(|enc| enc.clear_buffer(out.raw(), 0, Some(out.len() as u64 * 4)))?;
        }
        return Ok(());
    }
    let tiles_x = u64::from(u32_of(ctx, name, n.div_ceil(TILE))?);
    let tiles_y = u64::from(u32_of(ctx, name, m.div_ceil(TILE))?);
    let max = u64::from(ctx.limits().max_compute_workgroups_per_dimension);
    if tiles_x > max || tiles_y > max {
        return Err(ctx.error(name, format!("{m}×{n} output exceeds the dispatch limit")));
    }
    let entry = entry_point(&spec);
    let mut base = 0usize;
    while base < batch {
        let chunk = (batch - base).min(max as usize);
        let params = [
            u32_of(ctx, name, m)?,
            u32_of(ctx, name, n)?,
            u32_of(ctx, name, k)?,
            u32::from(spec.trans_a),
            u32::from(spec.trans_b),
            u32_of(ctx, name, spec.a_batch_stride)?,
            u32_of(ctx, name, spec.b_batch_stride)?,
            u32::from(spec.accumulate),
            u32_of(ctx, name, base)?,
        ];
        let grid = [tiles_x as u32, tiles_y as u32, chunk as u32];
        ctx.dispatch(&SHADER, entry, &params, &[a.raw(), b.raw(), out.raw()], grid)?;
        base += chunk;
    }
    Ok(())
}
