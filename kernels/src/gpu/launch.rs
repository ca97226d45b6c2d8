//! Argument checks and launch arithmetic shared by the kernels.

use super::buffer::GpuBuffer;
use super::context::{GpuContext, WG};
use super::error::GpuResult;
use std::sync::Arc;

/// Largest rank of the strided kernels (binary broadcasting, strided copies).
pub(crate) const MAX_RANK: usize = 8;

/// Refuses buffers of another context and buffers of the wrong length.
pub(crate) fn check(ctx: &Arc<GpuContext>, op: &'static str, args: &[(&str, &GpuBuffer, usize)]) -> GpuResult<()> {
    for (name, buf, want) in args {
        if !Arc::ptr_eq(buf.context(), ctx) {
            return Err(ctx.error(op, format!("`{name}` lives on another GPU context")));
        }
        if buf.len() != *want {
            return Err(ctx.error(op, format!("`{name}` has {} elements, expected {want}", buf.len())));
        }
    }
    Ok(())
}

/// `v` as a kernel parameter, refusing sizes past u32 (kernels index with u32).
pub(crate) fn u32_of(ctx: &GpuContext, op: &'static str, v: usize) -> GpuResult<u32> {
    u32::try_from(v).map_err(|_| ctx.error(op, format!("size {v} exceeds the 32-bit index range of the kernels")))
}

/// The grid of a one-dimensional launch of `threads` threads in `WG`-thread workgroups.
pub(crate) fn grid_1d(ctx: &GpuContext, op: &'static str, threads: usize) -> GpuResult<[u32; 3]> {
    ctx.grid(op, (threads as u64).div_ceil(u64::from(WG)))
}

/// Refuses ranks the strided kernels do not support.
pub(crate) fn check_rank(ctx: &GpuContext, op: &'static str, rank: usize) -> GpuResult<()> {
    if rank > MAX_RANK {
        return Err(ctx.error(op, format!("rank {rank} exceeds the supported {MAX_RANK}")));
    }
    Ok(())
}

/// `v` padded with `pad` to `MAX_RANK` entries, for the `array<vec4<u32>, 2>` fields of the
/// typed parameter structs (uniform arrays need 16-byte elements, so 8 dims are 2 vec4s).
pub(crate) fn dims8(ctx: &GpuContext, op: &'static str, v: &[usize], pad: u32) -> GpuResult<[u32; MAX_RANK]> {
    check_rank(ctx, op, v.len())?;
    let mut out = [pad; MAX_RANK];
    for (o, &d) in out.iter_mut().zip(v) {
        *o = u32_of(ctx, op, d)?;
    }
    Ok(out)
}
