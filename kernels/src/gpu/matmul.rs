//! Tiled, register-blocked batched matmul with transpose flags (twin of `cpu::matmul`). The
//! kernel's WGSL is generated per specialisation (`matmul_codegen.rs`); this file picks the
//! specialisation for a product, caches its source and launches it.

use super::context::GpuContext;
use super::copy::strided_add_into;
use super::launch::{check, u32_of};
use super::matmul_codegen::{self, Tile, Variant};
use super::matmul_plan::{k_ranges, plan, Plan};
use super::pipeline::{Checks, Shader};
use super::reduce::reduce;
use super::{GpuBuffer, GpuResult};
use crate::cpu::MatmulSpec;
use crate::{AxisSplit, ReduceOp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The kernel's parameters, mirrored by `MatmulParams` in the generated WGSL (binding 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    a_batch_stride: u32,
    b_batch_stride: u32,
    /// First batch entry of this dispatch (grids over more entries than z allows are split).
    batch_base: u32,
    /// K ranges per batch entry (split-K; 1 = unsplit) and the length of each but the last.
    splits: u32,
    k_chunk: u32,
}

/// The specialisation for `spec` on a device with `workgroup_bytes` of workgroup storage: each
/// operand is read with vec4 loads when its stored contiguous dimension (k for A, m for Aᵀ, n for
/// B, k for Bᵀ) and its batch stride are multiples of 4 (so every vec4 the kernel reads is
/// aligned and wholly inside or outside the matrix), one float at a time otherwise.
pub(crate) fn variant(spec: &MatmulSpec, tile: Tile, workgroup_bytes: u32) -> Variant {
    let a_contiguous = if spec.trans_a { spec.m } else { spec.k };
    let b_contiguous = if spec.trans_b { spec.k } else { spec.n };
    let mut v = Variant {
        tile,
        trans_a: spec.trans_a,
        trans_b: spec.trans_b,
        a4: a_contiguous.is_multiple_of(4) && spec.a_batch_stride.is_multiple_of(4),
        b4: b_contiguous.is_multiple_of(4) && spec.b_batch_stride.is_multiple_of(4),
        c4: spec.n.is_multiple_of(4),
        accumulate: spec.accumulate,
        double_buffer: true,
        split_k: false,
    };
    v.double_buffer = v.workgroup_bytes() <= workgroup_bytes;
    v
}

/// The shader of `v`, generated on first use. Sources are leaked into `'static` so the context's
/// pipeline cache can key on them like on the WGSL files; there are at most 2⁹ variants, so the
/// leak is bounded (a few MB at worst, in practice a handful of variants per process).
fn shader(v: Variant) -> &'static Shader {
    static SHADERS: OnceLock<Mutex<HashMap<Variant, &'static Shader>>> = OnceLock::new();
    let mut map = SHADERS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    map.entry(v).or_insert_with(|| {
        let name: &'static str = Box::leak(v.name().into_boxed_str());
        let source: &'static str = Box::leak(matmul_codegen::source(v).into_boxed_str());
        // Trusted: every global access of the generated kernel is guarded and every shared-memory
        // index is in range by construction (see matmul_codegen.rs); tests/matmul.rs covers
        // partial tiles, partial K slices, size 1, primes, stride-0 batches and every variant.
        Box::leak(Box::new(Shader { name, source, checks: Checks::Trusted }))
    })
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
    matmul_into_with(ctx, a, b, out, spec, plan(ctx, &spec)).map(|_| ())
}

/// [`matmul_into`] with the launch plan chosen by the caller (tests run every tile, single- and
/// double-buffered, split and not, on every shape); returns the variant launched.
pub(crate) fn matmul_into_with(
    ctx: &Arc<GpuContext>,
    a: &GpuBuffer,
    b: &GpuBuffer,
    out: &GpuBuffer,
    spec: MatmulSpec,
    plan: Plan,
) -> GpuResult<Option<Variant>> {
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
        return Ok(None);
    }
    if k == 0 {
        if !spec.accumulate {
            ctx.record(|enc| enc.clear_buffer(out.raw(), 0, Some(out.len() as u64 * 4)))?;
        }
        return Ok(None);
    }
    // The kernel indexes with u32: every offset it forms must fit.
    u32_of(ctx, name, need_a.max(need_b).max(batch * m * n))?;
    let Plan { tile, workgroup_bytes, splits } = plan;
    let (k_chunk, splits) = k_ranges(k, splits, tile.bk() as usize);
    // The partial products of a split need a scratch slab per K range, indexed with u32 too.
    let splits = if u32::try_from(batch * splits * m * n).is_ok() { splits } else { 1 };
    if splits == 1 {
        let v = variant(&spec, tile, workgroup_bytes);
        launch(ctx, [a, b, out], spec, v, 1, k)?;
        return Ok(Some(v));
    }
    // Split-K: each range's partial product into its own slab, then the slabs summed in range
    // order (deterministic) into `out`.
    let v = Variant { split_k: true, ..variant(&MatmulSpec { accumulate: false, ..spec }, tile, workgroup_bytes) };
    let scratch = GpuBuffer::uninit(ctx, batch * splits * m * n)?;
    launch(ctx, [a, b, &scratch], spec, v, splits, k_chunk)?;
    let sum = reduce(ctx, ReduceOp::Sum, &scratch, AxisSplit { outer: batch, len: splits, inner: m * n })?;
    if spec.accumulate {
        strided_add_into(ctx, out, 0, &[1], &[batch * m * n], &sum)?;
    } else {
        let bytes = (batch * m * n * 4) as u64;
        ctx.record(|enc| enc.copy_buffer_to_buffer(sum.raw(), 0, out.raw(), 0, bytes))?;
    }
    Ok(Some(v))
}

/// Dispatches `v` over every batch entry and K range of `spec` from `a` and `b` into `out`
/// (`[batch, m, n]`, or `[batch, splits, m, n]` of partial products when split), as many
/// dispatches as the z limit needs.
fn launch(
    ctx: &Arc<GpuContext>,
    [a, b, out]: [&GpuBuffer; 3],
    spec: MatmulSpec,
    v: Variant,
    splits: usize,
    k_chunk: usize,
) -> GpuResult<()> {
    let name = "matmul";
    let MatmulSpec { batch, m, n, k, .. } = spec;
    let size = v.tile.size() as usize;
    let tiles_x = u64::from(u32_of(ctx, name, n.div_ceil(size))?);
    let tiles_y = u64::from(u32_of(ctx, name, m.div_ceil(size))?);
    let max = u64::from(ctx.limits().max_compute_workgroups_per_dimension);
    if tiles_x > max || tiles_y > max || splits as u64 > max {
        return Err(ctx.error(name, format!("{m}×{n} output exceeds the dispatch limit")));
    }
    let shader = shader(v);
    let mut params = MatmulParams {
        m: u32_of(ctx, name, m)?,
        n: u32_of(ctx, name, n)?,
        k: u32_of(ctx, name, k)?,
        a_batch_stride: u32_of(ctx, name, spec.a_batch_stride)?,
        b_batch_stride: u32_of(ctx, name, spec.b_batch_stride)?,
        batch_base: 0,
        splits: u32_of(ctx, name, splits)?,
        k_chunk: u32_of(ctx, name, k_chunk)?,
    };
    let per_dispatch = (max as usize / splits).max(1);
    let mut base = 0usize;
    while base < batch {
        let chunk = (batch - base).min(per_dispatch);
        params.batch_base = u32_of(ctx, name, base)?;
        let grid = [tiles_x as u32, tiles_y as u32, (chunk * splits) as u32];
        ctx.dispatch_typed(shader, matmul_codegen::ENTRY, &params, &[a.raw(), b.raw(), out.raw()], grid)?;
        base += chunk;
    }
    Ok(())
}
