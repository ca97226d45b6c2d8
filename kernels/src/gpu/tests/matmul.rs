//! Matmul against the CPU on both staging paths of the kernel (vec4 and scalar global loads):
//! dims that are multiples of 4 and not, primes, size 1, partial tiles and K slices, all four
//! transpose combinations, batches with a shared operand, padded batch strides, accumulation.

use super::{assert_close, ctx, upload, Rng};
use crate::cpu::{self, MatmulSpec};
use crate::gpu;
use crate::gpu::matmul::entry_point;
use std::collections::BTreeMap;

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

/// Runs `spec` on both devices and compares; returns the entry point the GPU used.
fn check(ctx: &std::sync::Arc<gpu::GpuContext>, rng: &mut Rng, spec: MatmulSpec) -> &'static str {
    let MatmulSpec { batch, m, n, k, .. } = spec;
    let len = |stride: usize, size: usize| if stride == 0 { size } else { (batch - 1) * stride + size };
    let a = rng.vec(len(spec.a_batch_stride, m * k), -1.0, 1.0);
    let b = rng.vec(len(spec.b_batch_stride, k * n), -1.0, 1.0);
    let init = rng.vec(batch * m * n, -1.0, 1.0);
    let mut want = init.clone();
    cpu::matmul(&a, &b, &mut want, spec);
    let out = upload(ctx, &init);
    gpu::matmul_into(ctx, &upload(ctx, &a), &upload(ctx, &b), &out, spec).unwrap();
    // Tolerance: k products of values in [-1, 1] summed in another order.
    let tol = 1e-6 * (k as f32 + 1.0) * 4.0;
    assert_close(&format!("{spec:?}"), &out.to_vec().unwrap(), &want, tol, 1e-5);
    entry_point(&spec)
}

#[test]
fn matmul_vec4_and_scalar_paths_match_cpu() {
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
        (1, 4, 1, 4, Packed, Packed),
        // Primes and size 1: scalar everywhere.
        (1, 1, 1, 1, Packed, Packed),
        (2, 3, 5, 7, Packed, Packed),
        (1, 67, 13, 19, Packed, Packed),
        (3, 5, 67, 9, Shared, Packed),
        (2, 1, 7, 1, Packed, Packed),
    ];
    let mut used: BTreeMap<&str, usize> = BTreeMap::new();
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
                *used.entry(check(&ctx, &mut rng, spec)).or_default() += 1;
            }
        }
    }
    // Every combination of vec4 and scalar staging ran.
    let entries: Vec<&str> = used.keys().copied().collect();
    assert_eq!(entries, ["matmul", "matmul_a4", "matmul_a4b4", "matmul_b4"], "{used:?}");
}

#[test]
fn matmul_entry_point_follows_the_stored_layout() {
    let spec = |m, n, k, trans_a, trans_b| MatmulSpec { trans_a, trans_b, ..MatmulSpec::new(m, n, k) };
    // A [m, k] reads along k, Aᵀ [k, m] along m; B [k, n] along n, Bᵀ [n, k] along k.
    assert_eq!(entry_point(&spec(3, 5, 8, false, false)), "matmul_a4");
    assert_eq!(entry_point(&spec(3, 5, 8, true, false)), "matmul");
    assert_eq!(entry_point(&spec(8, 5, 3, true, false)), "matmul_a4");
    assert_eq!(entry_point(&spec(3, 8, 5, false, false)), "matmul_b4");
    assert_eq!(entry_point(&spec(3, 8, 5, false, true)), "matmul");
    assert_eq!(entry_point(&spec(3, 5, 8, false, true)), "matmul_a4b4");
    assert_eq!(entry_point(&spec(8, 8, 8, true, true)), "matmul_a4b4");
    // A batch stride that is not a multiple of 4 would misalign every batch entry but the first.
    let odd = MatmulSpec { batch: 2, a_batch_stride: 65, b_batch_stride: 66, ..MatmulSpec::new(8, 8, 8) };
    assert_eq!(entry_point(&odd), "matmul");
    let shared = MatmulSpec { batch: 2, a_batch_stride: 0, b_batch_stride: 0, ..MatmulSpec::new(8, 8, 8) };
    assert_eq!(entry_point(&shared), "matmul_a4b4");
}
