//! AVX2 + FMA micro-kernel: a `6 × 16` tile, twelve ymm accumulators (6 rows × 2 vectors), two
//! B loads and six broadcasts per depth step; 15 of the 16 ymm registers are live.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::pack::{pack_a, pack_b, pack_b_block, MatRef};
use super::{MicroKernel, Tile};

/// The AVX2 + FMA kernel; only run when both features were detected.
pub(crate) struct Avx2Fma;

const MR: usize = 6;
const NR: usize = 16;

impl MicroKernel for Avx2Fma {
    const MR: usize = MR;
    const NR: usize = NR;

    fn pack_a(dst: &mut [f32], a: MatRef, i0: usize, rows: usize, p0: usize, kc: usize) {
        pack_a::<MR>(dst, a, i0, rows, p0, kc);
    }

    fn pack_b(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
        pack_b::<NR>(dst, b, p0, kc, j0, cols);
    }

    fn pack_b_block(dst: &mut [f32], b: MatRef, depth: (usize, usize), columns: (usize, usize)) {
        pack_b_block::<NR>(dst, b, depth, columns, Self::pack_b);
    }

    unsafe fn run(t: &Tile) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx2Fma` is only selected after `is_x86_feature_detected!` saw avx2 and fma
        // (see `Isa::is_available`); the pointer contract is the caller's (`Tile`).
        unsafe {
            kernel(t)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = t;
            unreachable!("the AVX2 kernel is only selected on x86_64")
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(t: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        // SAFETY (whole loop): `a` walks `kc * MR` packed floats and `b` walks `kc` rows of NR
        // floats at stride `rs_b`, as the `Tile` contract promises.
        unsafe {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(i));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            a = a.add(MR);
            b = b.add(t.rs_b);
        }
    }
    if t.mr == MR && t.nr == NR {
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: a full tile, so every row < MR and column < NR of C is in bounds.
                unsafe {
                    let c = t.c.add(i * t.rs_c + v * 8);
                    let x = if t.load_c { _mm256_add_ps(x, _mm256_loadu_ps(c)) } else { x };
                    _mm256_storeu_ps(c, x);
                }
            }
        }
    } else {
        // Edge tile: spill the accumulators and write back only the valid rows and columns.
        let mut tmp = [[0.0f32; NR]; MR];
        for (row, out) in acc.iter().zip(tmp.iter_mut()) {
            // SAFETY: each `out` row holds exactly two vectors of eight floats.
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr(), row[0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), row[1]);
            }
        }
        for (i, row) in tmp.iter().enumerate().take(t.mr) {
            // SAFETY: rows `< mr` and columns `< nr` of the C tile are in bounds (`Tile` contract).
            let c = unsafe { std::slice::from_raw_parts_mut(t.c.add(i * t.rs_c), t.nr) };
            for (cv, &v) in c.iter_mut().zip(row) {
                *cv = if t.load_c { *cv + v } else { v };
            }
        }
    }
}
