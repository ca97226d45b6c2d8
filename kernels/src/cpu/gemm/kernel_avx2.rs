//! AVX2 + FMA micro-kernel: a `6 × 16` tile, twelve ymm accumulators (6 rows × 2 vectors), two
//! B loads and six broadcasts per depth step; 15 of the 16 ymm registers are live. Like the
//! AVX-512 kernel it reads row-major A rows in place (only transposed A is packed). Unlike it,
//! it does not prefetch B: here the hardware prefetchers keep up, and a software prefetch
//! bought nothing at any distance tried (see BENCHMARKS.md).
//! Edge tiles store through lane masks; panels of at most 8 columns run a one-vector variant,
//! and panels of at most 2 or 4 rows a 2- or 4-row one.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::pack::{pack_a, pack_b, pack_b_block, MatRef};
use super::{MicroKernel, Tile};

/// The AVX2 + FMA kernel; only run when both features were detected.
pub(crate) struct Avx2Fma;

const MR: usize = 6;
const NR: usize = 16;
const LANES: usize = 8;

impl MicroKernel for Avx2Fma {
    const MR: usize = MR;
    const NR: usize = NR;
    const READS_A_IN_PLACE: bool = true;
    const NR_GRAIN: usize = LANES;

    fn pack_a(dst: &mut [f32], a: MatRef, i0: usize, rows: usize, p0: usize, kc: usize) {
        pack_a::<MR>(dst, a, i0, rows, p0, kc);
    }

    fn pack_b(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
        #[cfg(target_arch = "x86_64")]
        if b.trans {
            // SAFETY: this kernel is only selected when avx2 and fma are available.
            unsafe { pack_b_trans(dst, b, p0, kc, j0, cols) };
            return;
        }
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
            if t.lda.is_some() {
                by_shape::<true>(t)
            } else {
                by_shape::<false>(t)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = t;
            unreachable!("the AVX2 kernel is only selected on x86_64")
        }
    }
}

/// Runs `t` on the smallest kernel variant that covers it: short edge panels (the last rows of
/// a 10-row weight gradient) skip the broadcasts and FMAs of rows that are never stored, narrow
/// ones (the last 4 columns of 100) the vector that would be all padding.
///
/// # Safety
/// As [`MicroKernel::run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn by_shape<const A_IN_PLACE: bool>(t: &Tile) {
    // SAFETY: the caller's, passed on; each variant covers the tile's rows and columns.
    unsafe {
        match (t.mr, t.nr <= LANES) {
            (0..=2, true) => kernel::<2, 1, A_IN_PLACE>(t),
            (0..=2, false) => kernel::<2, 2, A_IN_PLACE>(t),
            (3..=4, true) => kernel::<4, 1, A_IN_PLACE>(t),
            (3..=4, false) => kernel::<4, 2, A_IN_PLACE>(t),
            (_, true) => kernel::<MR, 1, A_IN_PLACE>(t),
            (_, false) => kernel::<MR, 2, A_IN_PLACE>(t),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel<const R: usize, const V: usize, const A_IN_PLACE: bool>(t: &Tile) {
    debug_assert!(t.mr <= R && t.nr <= V * LANES, "a tile runs on a kernel with at least its rows and columns");
    let mut acc = [[_mm256_setzero_ps(); V]; R];
    // In place, A row `i` starts at `a + i * lda`; rows past `mr` re-read row 0, whose products
    // land in accumulators that are never stored.
    let lda = t.lda.unwrap_or(0);
    // Computed per element, not as a filled array patched in a loop: see the AVX-512 kernel.
    let mut rows: [*const f32; R] = std::array::from_fn(|i| if i < t.mr { t.a.wrapping_add(i * lda) } else { t.a });
    // SAFETY: the `Tile` contract, passed on.
    unsafe { depth_loop::<R, V, A_IN_PLACE>(&mut acc, &mut rows, t) };
    if t.mr == R && t.nr == V * LANES {
        for (i, row) in acc.iter().enumerate() {
            for (v, &x) in row.iter().enumerate() {
                // SAFETY: a full tile, so every row < R and column < V * 8 of C is in bounds.
                unsafe {
                    let c = t.c.add(i * t.rs_c + v * LANES);
                    let x = if t.load_c { _mm256_add_ps(x, _mm256_loadu_ps(c)) } else { x };
                    _mm256_storeu_ps(c, x);
                }
            }
        }
        return;
    }
    // Edge tile: valid rows only, each vector's valid columns through a lane mask (sign bit set
    // for the lanes below `nr`), instead of spilling the tile and copying it float by float.
    let first_lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let masks: [__m256i; V] = std::array::from_fn(|v| {
        let valid = t.nr.saturating_sub(v * LANES).min(LANES) as i32;
        _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), first_lanes)
    });
    for (i, row) in acc.iter().enumerate().take(t.mr) {
        for (v, &x) in row.iter().enumerate() {
            if v * LANES >= t.nr {
                break;
            }
            // SAFETY: row `i < mr` and column `v * 8 < nr` start inside the C tile, and the mask
            // enables only the lanes below column `nr`; masked-off lanes are neither read nor
            // written (and cannot fault).
            unsafe {
                let c = t.c.add(i * t.rs_c + v * LANES);
                let x = if t.load_c { _mm256_add_ps(x, _mm256_maskload_ps(c, masks[v])) } else { x };
                _mm256_maskstore_ps(c, masks[v], x);
            }
        }
    }
}

/// [`pack_b`] for B stored `[n, k]`: `8 × 8` blocks are transposed in registers (8 loads, 24
/// shuffles, 8 stores) instead of element by element. Edge blocks too: a depth edge loads its
/// rows masked, a column edge transposes zero rows in place of the missing ones, and a panel
/// of at most 8 columns stores zeros in its upper half, so the whole panel is written. This is
/// the forward pass of every linear layer (`x · Wᵀ`), and the whole of narrow products such as
/// the `9`-wide weight gradient of a `3 × 3` single-channel convolution.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pack_b_trans(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
    const BLOCK: usize = 8;
    let dst = &mut dst[..kc * NR];
    for pb in (0..kc).step_by(BLOCK) {
        let depth = (kc - pb).min(BLOCK);
        // Lane i is loaded when its mask element has the sign bit set: i < depth.
        let depth_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(depth as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for jb in (0..NR).step_by(BLOCK) {
            let mut r = [_mm256_setzero_ps(); BLOCK];
            for (jj, row) in r.iter_mut().enumerate().take(cols.saturating_sub(jb).min(BLOCK)) {
                let src = &b.data[(j0 + jb + jj) * b.ld + p0 + pb..][..depth];
                // SAFETY: the lanes `depth_mask` enables are exactly `src`'s `depth` floats;
                // masked-off lanes are not read and cannot fault.
                *row = unsafe { _mm256_maskload_ps(src.as_ptr(), depth_mask) };
            }
            for (pp, row) in transpose8(r).iter().enumerate().take(depth) {
                let d = &mut dst[(pb + pp) * NR + jb..][..BLOCK];
                // SAFETY: `d` holds exactly 8 floats.
                unsafe { _mm256_storeu_ps(d.as_mut_ptr(), *row) };
            }
        }
    }
}

/// Transposes an 8 × 8 block held as 8 row vectors: unpack pairs of floats, shuffle pairs of
/// pairs, then swap 128-bit halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(x, y)
        } else {
            _mm256_unpackhi_ps(x, y)
        }
    });
    // s[0..4] from rows 0–3, s[4..8] from rows 4–7: columns 0/4, 1/5, 2/6, 3/7 per 128-bit half.
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    [
        _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
        _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
    ]
}

/// The kernel's depth loop: `acc[i] += A[i, p] · B[p, ..16]` for `kc` steps, four steps per
/// iteration (the loop counter and pointer updates otherwise take a sixth of the issue slots).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn depth_loop<const R: usize, const V: usize, const A_IN_PLACE: bool>(
    acc: &mut [[__m256; V]; R],
    rows: &mut [*const f32; R],
    t: &Tile,
) {
    let (mut a, mut b) = (t.a, t.b);
    let mut step = || {
        // SAFETY (every step): `a` walks `kc * MR` packed floats, or each of `rows` walks `kc`
        // floats of an in-bounds row of A; `b` walks `kc` rows of NR floats at stride `rs_b`;
        // all as the `Tile` contract promises.
        unsafe {
            let bv: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(b.add(v * LANES)));
            for (i, row) in acc.iter_mut().enumerate() {
                let av = if A_IN_PLACE { _mm256_broadcast_ss(&*rows[i]) } else { _mm256_broadcast_ss(&*a.add(i)) };
                for (x, &y) in row.iter_mut().zip(&bv) {
                    *x = _mm256_fmadd_ps(av, y, *x);
                }
            }
            if A_IN_PLACE {
                for r in rows.iter_mut() {
                    *r = r.add(1);
                }
            } else {
                a = a.add(MR);
            }
            b = b.add(t.rs_b);
        }
    };
    for _ in 0..t.kc / 4 {
        for _ in 0..4 {
            step();
        }
    }
    for _ in 0..t.kc % 4 {
        step();
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn simd_transposed_packing_matches_the_scalar_one() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let (n, k) = (29, 45);
        let data: Vec<f32> = (0..n * k).map(|i| i as f32).collect();
        let b = MatRef { data: &data, ld: k, trans: true };
        let panels = [(0, 45, 0, 16), (3, 35, 5, 16), (0, 8, 0, 8), (1, 40, 13, 13), (0, 7, 2, 11)];
        let narrow = [(0, 45, 0, 9), (2, 37, 20, 9), (0, 5, 1, 1), (1, 17, 3, 3)];
        for (p0, kc, j0, cols) in panels.into_iter().chain(narrow) {
            let mut simd = vec![f32::NAN; kc * NR];
            let mut scalar = vec![f32::NAN; kc * NR];
            // SAFETY: avx2 was detected above.
            unsafe { pack_b_trans(&mut simd, b, p0, kc, j0, cols) };
            pack_b::<NR>(&mut scalar, b, p0, kc, j0, cols);
            assert_eq!(simd, scalar, "p0 {p0} kc {kc} j0 {j0} cols {cols}");
        }
    }
}
