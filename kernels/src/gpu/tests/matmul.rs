//! Matmul against the CPU on every specialisation of the generated kernel: both tiles (64 and
//! 128), single- and double-buffered shared memory, vec4 and scalar global loads of each operand
//! and vec4 and scalar stores, all four transpose combinations, with and without accumulation,
//! unsplit and split along K.
//! Shapes: multiples of 4 and not, primes, size 1, partial tiles and K slices, more than one tile
//! in every direction, batches with a shared (stride 0) or padded operand.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu::{self, MatmulSpec};
use crate::gpu;
use crate::gpu::matmul::{matmul_into_with, variant};
use crate::gpu::matmul_codegen::{Tile, Variant};
use crate::gpu::matmul_plan::Plan;
use std::collections::BTreeSet;

/// How an operand's batch entries are laid out.
#[derive(Clone, Copy, Debug)]
enum Batching {
    /// Back to back (stride = matrix size).
    Packed,
    /// One matrix for every batch entry (stride 0).
    Shared,
    /// One float of padding between matrices, so the stride is odd even when the matrix's
    /// dimensions are multiples of 4 (forces the scalar path).
    Padded,
}

fn stride(batching: Batching, size: usize) -> usize {
    match batching {
        Batching::Packed => size,
        Batching::Shared => 0,
        Batching::Padded => size + 1,
    }
}

/// Runs `spec` on both devices with `tile`, the workgroup storage budget `wg_bytes` and `splits`
/// K ranges asked for, compares, and returns the variant the GPU ran.
fn check(
    ctx: &std::sync::Arc<gpu::GpuContext>,
    rng: &mut Rng,
    spec: MatmulSpec,
    (tile, wg_bytes, splits): (Tile, u32, usize),
) -> Variant {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    let len = |stride: usize, size: usize| if stride == 0 { size } else { (batch - 1) * stride + size };
    let a = rng.vec(len(spec.a_batch_stride, m * k), -1.0, 1.0);
    let b = rng.vec(len(spec.b_batch_stride, k * n), -1.0, 1.0);
    let init = rng.vec(batch * m * n, -1.0, 1.0);
    let mut want = init.clone();
    cpu::matmul(&a, &b, &mut want, spec);
    let out = upload(ctx, &init);
    let plan = Plan { tile, workgroup_bytes: wg_bytes, splits };
    let v = matmul_into_with(ctx, &upload(ctx, &a), &upload(ctx, &b), &out, spec, plan)
        .unwrap()
        .expect("a non-empty product launches the kernel");
    // Tolerance: k products of values in [-1, 1] summed in another order.
    let tol = 1e-6 * (k as f32 + 1.0) * 4.0;
    assert_close(&format!("{spec:?} on {} split {splits}", v.name()), &out.to_vec().unwrap(), &want, tol, 1e-5);
    v
}

#[test]
fn every_matmul_variant_matches_the_cpu() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(11);
    use Batching::{Packed, Padded, Shared};
    // (batch, m, n, k, A batching, B batching)
    let cases = [
        // All multiples of 4: vec4 for both operands under every transpose combination.
        (1, 4, 4, 4, Packed, Packed),
        (1, 64, 64, 64, Packed, Packed),
        // Partial output tiles in both directions and a partial last K slice (36 = 2·16 + 4).
        (1, 68, 72, 36, Packed, Packed),
        (2, 8, 12, 20, Packed, Packed),
        (3, 4, 8, 12, Shared, Packed),
        (3, 12, 8, 4, Packed, Shared),
        // Multiples of 4 but odd batch strides: scalar for the padded operand.
        (2, 8, 4, 12, Padded, Packed),
        (2, 8, 4, 12, Packed, Padded),
        // Mixed: some contiguous dimensions are multiples of 4, some not.
        (1, 16, 5, 12, Packed, Packed),
        (2, 65, 64, 17, Packed, Shared),
        (1, 5, 68, 3, Packed, Packed),
        (1, 1, 4, 1, Packed, Packed),
        (1, 5, 7, 12, Packed, Packed),
        (1, 4, 1, 4, Packed, Packed),
        // Primes and size 1: scalar everywhere.
        (1, 1, 1, 1, Packed, Packed),
        (1, 1, 7, 13, Packed, Packed),
        (2, 3, 5, 7, Packed, Packed),
        (1, 67, 13, 19, Packed, Packed),
        (3, 5, 67, 9, Shared, Packed),
        (2, 1, 7, 1, Packed, Packed),
        // More than one 128-tile in every direction, none of them a multiple of the tile, and K
        // past several slices with a ragged end.
        (1, 129, 257, 131, Packed, Packed),
        (2, 132, 136, 140, Shared, Packed),
    ];
    let mut seen: BTreeSet<(bool, bool, bool, u32, bool)> = BTreeSet::new();
    for (batch, m, n, k, a_batching, b_batching) in cases {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            for accumulate in [false, true] {
                let spec = MatmulSpec {
                    batch,
                    m,
                    n,
                    k,
                    trans_a,
                    trans_b,
                    a_batch_stride: stride(a_batching, m * k),
                    b_batch_stride: stride(b_batching, k * n),
                    accumulate,
                };
                // Both tiles; the large shapes also single-buffered (a zero budget forces it).
                for tile in [Tile::T64, Tile::T128] {
                    let budgets: &[u32] =
                        if m > 100 || (m == 68 && !accumulate) { &[u32::MAX, 0] } else { &[u32::MAX] };
                    for &wg in budgets {
                        let v = check(&ctx, &mut rng, spec, (tile, wg, 1));
                        seen.insert((v.a4, v.b4, v.c4, v.tile.size(), v.double_buffer));
                    }
                    // Split-K into 2 and 3 ranges (fewer when K is too short for them), with
                    // range boundaries inside what would be one K slice of the unsplit kernel.
                    if k >= 17 {
                        for splits in [2, 3] {
                            assert!(check(&ctx, &mut rng, spec, (tile, u32::MAX, splits)).split_k);
                        }
                    }
                }
            }
        }
    }
    // Every combination of vec4 and scalar loads and stores ran, on both tiles, single- and
    // double-buffered.
    for a4 in [false, true] {
        for b4 in [false, true] {
            for c4 in [false, true] {
                for tile in [64, 128] {
                    assert!(seen.contains(&(a4, b4, c4, tile, true)), "a4 {a4} b4 {b4} c4 {c4} tile {tile}: {seen:?}");
                }
            }
        }
    }
    for tile in [64, 128] {
        assert!(seen.iter().any(|s| s.3 == tile && !s.4), "tile {tile} single-buffered: {seen:?}");
    }
}

#[test]
fn matmul_variant_follows_the_stored_layout() {
    let spec = |m, n, k, trans_a, trans_b| MatmulSpec { trans_a, trans_b, ..MatmulSpec::new(m, n, k) };
    let ab = |s: MatmulSpec| {
        let v = variant(&s, Tile::T64, u32::MAX);
        (v.a4, v.b4)
    };
    // A [m, k] reads along k, Aᵀ [k, m] along m; B [k, n] along n, Bᵀ [n, k] along k.
    assert_eq!(ab(spec(3, 5, 8, false, false)), (true, false));
    assert_eq!(ab(spec(3, 5, 8, true, false)), (false, false));
    assert_eq!(ab(spec(8, 5, 3, true, false)), (true, false));
    assert_eq!(ab(spec(3, 8, 5, false, false)), (false, true));
    assert_eq!(ab(spec(3, 8, 5, false, true)), (false, false));
    assert_eq!(ab(spec(3, 5, 8, false, true)), (true, true));
    assert_eq!(ab(spec(8, 8, 8, true, true)), (true, true));
    // A batch stride that is not a multiple of 4 would misalign every batch entry but the first.
    let odd = MatmulSpec { batch: 2, a_batch_stride: 65, b_batch_stride: 66, ..MatmulSpec::new(8, 8, 8) };
    assert_eq!(ab(odd), (false, false));
    let shared = MatmulSpec { batch: 2, a_batch_stride: 0, b_batch_stride: 0, ..MatmulSpec::new(8, 8, 8) };
    assert_eq!(ab(shared), (true, true));
    // The output is stored as vec4s exactly when n is a multiple of 4.
    assert!(variant(&spec(3, 8, 5, false, false), Tile::T64, u32::MAX).c4);
    assert!(!variant(&spec(8, 5, 8, false, false), Tile::T64, u32::MAX).c4);
    // Double buffering only within the device's workgroup storage.
    let v = variant(&spec(8, 8, 8, false, false), Tile::T128, u32::MAX);
    assert!(v.double_buffer);
    assert!(!variant(&spec(8, 8, 8, false, false), Tile::T128, v.workgroup_bytes() - 1).double_buffer);
}

#[test]
fn matmul_pipelines_are_generated_once_per_variant() {
    let Some(ctx) = ctx() else { return };
    let mut rng = Rng::new(3);
    let spec = MatmulSpec::new(20, 24, 28);
    check(&ctx, &mut rng, spec, (Tile::T64, u32::MAX, 1));
    let compiled = ctx.pipeline_count();
    for _ in 0..3 {
        check(&ctx, &mut rng, spec, (Tile::T64, u32::MAX, 1));
    }
    assert_eq!(ctx.pipeline_count(), compiled, "the same variant compiled again");
}
