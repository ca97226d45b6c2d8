//! Portable micro-kernel: plain Rust over fixed-size arrays, which LLVM keeps in vector registers
//! with whatever SIMD the build target has (SSE2 on baseline x86-64, NEON on aarch64).

use super::pack::{pack_a, pack_b, pack_b_block, MatRef};
use super::{MicroKernel, Tile};

/// A `4 × 8` tile: eight accumulator vectors of four lanes fit the sixteen registers of SSE2 with
/// room for the B row and the broadcast A value.
pub(crate) struct Portable;

const MR: usize = 4;
const NR: usize = 8;

impl MicroKernel for Portable {
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
        let mut acc = [[0.0f32; NR]; MR];
        for p in 0..t.kc {
            // SAFETY: the caller guarantees `kc` rows of NR readable floats at stride `rs_b` from
            // `b` and `kc * MR` readable floats from `a` (the `Tile` contract).
            let (bp, ap) =
                unsafe { (&*(t.b.add(p * t.rs_b) as *const [f32; NR]), &*(t.a.add(p * MR) as *const [f32; MR])) };
            for i in 0..MR {
                let av = ap[i];
                for j in 0..NR {
                    // Not `mul_add`: without hardware FMA that is a slow libm call.
                    acc[i][j] += av * bp[j];
                }
            }
        }
        for (i, row) in acc.iter().enumerate().take(t.mr) {
            // SAFETY: rows `< mr` and columns `< nr` of the C tile are in bounds (`Tile` contract).
            let c = unsafe { std::slice::from_raw_parts_mut(t.c.add(i * t.rs_c), t.nr) };
            for (cv, &v) in c.iter_mut().zip(row) {
                *cv = if t.load_c { *cv + v } else { v };
            }
        }
    }
}
