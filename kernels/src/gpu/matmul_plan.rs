//! How a product is launched: its output tile, the workgroup storage its variant may use, and
//! into how many K ranges it is split (split-K) when too few output tiles would leave a GPU idle.

use super::context::GpuContext;
use super::matmul_codegen::Tile;
use crate::cpu::MatmulSpec;
use std::sync::OnceLock;

/// Workgroups below which a product on a GPU takes 64-tiles instead of 128-tiles, or is split
/// along K: fewer would leave many of a large GPU's compute units (132 SMs on an H100/H200)
/// without work.
const MIN_WORKGROUPS: usize = 128;

/// Depth each K range keeps at least, so the partial products stay worth their extra pass.
const MIN_SPLIT_DEPTH: usize = 256;

/// Most K ranges per product.
const MAX_SPLITS: usize = 16;

/// A launch plan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub tile: Tile,
    /// Workgroup storage the variant may use (its double-buffered form needs more).
    pub workgroup_bytes: u32,
    /// K ranges asked for (1 = unsplit); [`k_ranges`] trims it to non-empty ranges.
    pub splits: usize,
}

/// `GRAFT_MATMUL_TILE=64|128` and `GRAFT_MATMUL_SPLIT_K=<n>`, read once: knobs for tuning on a
/// device, not for production use.
fn forced() -> (Option<Tile>, Option<usize>) {
    static FORCED: OnceLock<(Option<Tile>, Option<usize>)> = OnceLock::new();
    *FORCED.get_or_init(|| {
        let tile = match std::env::var("GRAFT_MATMUL_TILE").as_deref() {
            Ok("64") => Some(Tile::T64),
            Ok("128") => Some(Tile::T128),
            _ => None,
        };
        let splits = std::env::var("GRAFT_MATMUL_SPLIT_K").ok().and_then(|v| v.parse().ok()).filter(|&s| s >= 1);
        (tile, splits)
    })
}

/// The plan for `spec` on `ctx`.
///
/// Tile: on a GPU, 128 when the grid of 128-tiles is large enough to fill the device; on a
/// software adapter (lavapipe: a few CPU threads, each running whole workgroups), 128 as soon as
/// the tile would be mostly full, since there the cost per workgroup dominates and idle units are
/// few (measured on lavapipe: 5.4 against 3.6 GFLOP/s at 128³).
///
/// Split-K, on a GPU only: a grid of fewer than `MIN_WORKGROUPS` tiles is cut along K into as
/// many ranges as fill that many workgroups, each at least `MIN_SPLIT_DEPTH` deep.
pub(crate) fn plan(ctx: &GpuContext, spec: &MatmulSpec) -> Plan {
    let (forced_tile, forced_splits) = forced();
    let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
    let grid = |size: usize| spec.m.div_ceil(size) * spec.n.div_ceil(size) * spec.batch;
    let tile = forced_tile.unwrap_or(if software {
        if spec.m >= 128 && spec.n >= 128 {
            Tile::T128
        } else {
            Tile::T64
        }
    } else if grid(128) >= MIN_WORKGROUPS {
        Tile::T128
    } else {
        Tile::T64
    });
    let tiles = grid(tile.size() as usize).max(1);
    let splits = forced_splits.unwrap_or(if software || tiles >= MIN_WORKGROUPS {
        1
    } else {
        MIN_WORKGROUPS.div_ceil(tiles).min(spec.k / MIN_SPLIT_DEPTH).clamp(1, MAX_SPLITS)
    });
    Plan { tile, workgroup_bytes: ctx.limits().max_compute_workgroup_storage_size, splits }
}

/// `(k_chunk, ranges)` for cutting `k > 0` into at most `splits` ranges: every range but the
/// last is `k_chunk` deep, a multiple of the slice depth `bk` (so vec4 loads stay aligned), and
/// none is empty.
pub(crate) fn k_ranges(k: usize, splits: usize, bk: usize) -> (usize, usize) {
    let splits = splits.max(1);
    if splits == 1 {
        return (k, 1);
    }
    let chunk = k.div_ceil(splits).next_multiple_of(bk);
    let ranges = k.div_ceil(chunk);
    if ranges <= 1 {
        (k, 1)
    } else {
        (chunk, ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::k_ranges;

    #[test]
    fn k_ranges_are_slice_aligned_non_empty_and_cover_k() {
        for k in 1..300 {
            for splits in 1..20 {
                for bk in [8, 16] {
                    let (chunk, ranges) = k_ranges(k, splits, bk);
                    assert!(ranges >= 1 && ranges <= splits, "k {k} splits {splits}");
                    if ranges > 1 {
                        assert_eq!(chunk % bk, 0, "k {k} splits {splits} bk {bk}");
                        // The last range starts before k and the ranges reach k.
                        assert!((ranges - 1) * chunk < k && ranges * chunk >= k, "k {k} splits {splits}");
                    } else {
                        assert_eq!(chunk, k);
                    }
                }
            }
        }
        assert_eq!(k_ranges(36, 2, 16), (32, 2));
        assert_eq!(k_ranges(36, 3, 16), (16, 3));
        assert_eq!(k_ranges(4, 2, 16), (4, 1));
    }
}
