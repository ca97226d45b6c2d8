//! AVX-512F micro-kernel: an `8 × 48` tile, 24 zmm accumulators (8 rows × 3 vectors), three B
//! loads and eight broadcasts per depth step. 28 of the 32 zmm registers are live, and each B
//! load feeds eight FMAs, which keeps the load ports below the FMA rate. Edge columns use masked
//! loads and stores, and panels with at most 16 or 32 valid columns run a one- or two-vector
//! variant; panels of at most four rows run a four-row variant. A `6 × 64` wide tile (same 24
//! accumulators) takes the last 49–64 columns of a small-m product, which would otherwise run
//! as two half-empty panels. Deep tiles prefetch the B rows they will need a few steps ahead.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::pack::{pack_a, pack_b_block, MatRef};
use super::{MicroKernel, Tile};

/// The AVX-512F kernel; only run when avx512f was detected.
pub(crate) struct Avx512;

const MR: usize = 8;
const NR: usize = 48;
const LANES: usize = 16;
/// The wide tile, `6 × 64`: 24 accumulators, four B loads and six broadcasts per depth step,
/// where the two `8 × 32` tiles it replaces keep only 16 accumulators busy and need ten loads
/// per step.
const WIDE_MR: usize = 6;
const WIDE_NR: usize = 64;

/// B rows ahead of the one being multiplied that the kernel asks L1 to fetch. The B panel
/// streams from L2 (it is read once per A panel, and a 512-deep panel is twice the size of L1),
/// and the hardware prefetchers alone left the FMAs waiting. The exact distance matters little
/// (8 to 32 rows did about as well).
#[cfg(target_arch = "x86_64")]
const B_PREFETCH_ROWS: usize = 16;

/// Shallower tiles skip the prefetch: their B panel is mostly in L1 already, so the prefetch
/// instructions would only add work.
#[cfg(target_arch = "x86_64")]
const B_PREFETCH_MIN_DEPTH: usize = 256;

impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const NR_GRAIN: usize = LANES;
    const READS_A_IN_PLACE: bool = true;

    /// Only transposed A is ever packed: row-major A rows are read in place.
    fn pack_a(dst: &mut [f32], a: MatRef, i0: usize, rows: usize, p0: usize, kc: usize) {
        pack_a::<MR>(dst, a, i0, rows, p0, kc);
    }

    fn pack_b(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
        #[cfg(target_arch = "x86_64")]
        if b.trans {
            // SAFETY: this kernel is only selected when avx512f is available.
            unsafe { pack_b_trans::<NR>(dst, b, p0, kc, j0, cols) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this kernel is only selected when avx512f is available.
        unsafe {
            pack_b_rows::<NR>(dst, b, p0, kc, j0, cols)
        }
        #[cfg(not(target_arch = "x86_64"))]
        super::pack::pack_b::<NR>(dst, b, p0, kc, j0, cols);
    }

    fn pack_b_block(dst: &mut [f32], b: MatRef, depth: (usize, usize), columns: (usize, usize)) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this kernel is only selected when avx512f is available.
        unsafe {
            pack_b_block_zmm(dst, b, depth, columns)
        }
        #[cfg(not(target_arch = "x86_64"))]
        pack_b_block::<NR>(dst, b, depth, columns, Self::pack_b);
    }

    const WIDE: (usize, usize) = (WIDE_MR, WIDE_NR);

    fn pack_b_wide(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this kernel is only selected when avx512f is available.
        unsafe {
            if b.trans {
                pack_b_trans::<WIDE_NR>(dst, b, p0, kc, j0, cols)
            } else {
                pack_b_rows::<WIDE_NR>(dst, b, p0, kc, j0, cols)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        super::pack::pack_b::<WIDE_NR>(dst, b, p0, kc, j0, cols);
    }

    unsafe fn run_wide(t: &Tile) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `run`; a wide tile always reads A in place (see `MicroKernel::WIDE`).
        unsafe {
            debug_assert!(t.lda.is_some() && t.nr > NR, "a wide tile reads A in place and is wider than NR");
            // Remainder rows of a wide panel: the multiply-adds of rows never stored are skipped.
            if t.mr <= 2 {
                kernel::<2, 4, true>(t)
            } else if t.mr <= 4 {
                kernel::<4, 4, true>(t)
            } else {
                kernel::<WIDE_MR, 4, true>(t)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = t;
            unreachable!("the AVX-512 kernel is only selected on x86_64")
        }
    }

    unsafe fn run(t: &Tile) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Avx512` is only selected after `is_x86_feature_detected!("avx512f")` (see
        // `Isa::is_available`); the pointer contract is the caller's (`Tile`).
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
            unreachable!("the AVX-512 kernel is only selected on x86_64")
        }
    }
}

/// Runs `t` on the smallest kernel variant that covers it: narrow edge panels skip the
/// all-zero vectors of their padding, and short edge panels (at most four rows, such as the
/// last two of a 10-row weight gradient) the broadcasts and FMAs of rows that are never stored.
///
/// # Safety
/// As [`MicroKernel::run`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn by_shape<const A_IN_PLACE: bool>(t: &Tile) {
    // SAFETY: the caller's, passed on; each variant covers the tile's rows and columns.
    unsafe {
        match (t.mr <= MR / 2, t.nr) {
            (false, 0..=LANES) => kernel::<MR, 1, A_IN_PLACE>(t),
            (false, 17..=32) => kernel::<MR, 2, A_IN_PLACE>(t),
            (false, _) => kernel::<MR, 3, A_IN_PLACE>(t),
            (true, 0..=LANES) => kernel::<{ MR / 2 }, 1, A_IN_PLACE>(t),
            (true, 17..=32) => kernel::<{ MR / 2 }, 2, A_IN_PLACE>(t),
            (true, _) => kernel::<{ MR / 2 }, 3, A_IN_PLACE>(t),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize, const V: usize, const A_IN_PLACE: bool>(t: &Tile) {
    debug_assert!(t.mr <= R, "a tile runs on a kernel with at least its rows");
    // The C tile is touched only after the depth loop; start bringing it in now (a prefetch
    // never faults, and the addresses lie inside the tile's rows anyway).
    for i in 0..t.mr {
        for v in 0..V {
            let line = t.c.wrapping_add(i * t.rs_c + v * LANES);
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
        }
    }
    // `R` rows of accumulators (a packed panel still has `MR` rows per depth step).
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    // In place, A row `i` starts at `a + i * lda`; rows past `mr` re-read row 0, whose
    // products land in accumulators that are never stored.
    let lda = t.lda.unwrap_or(0);
    // One expression per element: the loop that patched a filled array compiled to a masked
    // vector store of the pointers and scalar loads of them right after, which the CPU cannot
    // forward from the store, so every tile waited on it (felt most by shallow products).
    let mut rows: [*const f32; R] = std::array::from_fn(|i| if i < t.mr { t.a.wrapping_add(i * lda) } else { t.a });
    // Two loops rather than a test per depth step.
    // SAFETY: the `Tile` contract, passed on.
    unsafe {
        if t.kc >= B_PREFETCH_MIN_DEPTH {
            depth_loop::<R, V, A_IN_PLACE, true>(&mut acc, &mut rows, t);
        } else {
            depth_loop::<R, V, A_IN_PLACE, false>(&mut acc, &mut rows, t);
        }
    }
    // Lane masks for the column vectors: all ones for a full tile.
    let mask = |v: usize| -> __mmask16 {
        let valid = t.nr.saturating_sub(v * LANES).min(LANES);
        ((1u32 << valid) - 1) as __mmask16
    };
    let mut masks = [0; V];
    for (v, m) in masks.iter_mut().enumerate() {
        *m = mask(v);
    }
    for (i, row) in acc.iter().enumerate().take(t.mr) {
        for (v, &x) in row.iter().enumerate() {
            if masks[v] == 0 {
                continue;
            }
            // SAFETY: rows `< mr` are in bounds, column `v * LANES < nr` starts inside the row,
            // and the mask disables every lane at or past column `nr`; masked-off lanes are
            // neither read nor written (and cannot fault).
            unsafe {
                let c = t.c.add(i * t.rs_c + v * LANES);
                let x = if t.load_c { _mm512_add_ps(x, _mm512_maskz_loadu_ps(masks[v], c)) } else { x };
                _mm512_mask_storeu_ps(c, masks[v], x);
            }
        }
    }
}

/// The kernel's depth loop: `acc[i][v] += A[i, p] · B[p, v-th vector]` for `kc` steps,
/// advancing the A and B pointers; with `PF`, each step also prefetches B
/// [`B_PREFETCH_ROWS`] rows ahead.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn depth_loop<const R: usize, const V: usize, const A_IN_PLACE: bool, const PF: bool>(
    acc: &mut [[__m512; V]; R],
    rows: &mut [*const f32; R],
    t: &Tile,
) {
    let (mut a, mut b, rs_b) = (t.a, t.b, t.rs_b);
    for _ in 0..t.kc {
        // SAFETY (whole loop): `a` walks `kc * MR` packed floats, or each of `rows` walks `kc`
        // floats of an in-bounds row of A; `b` walks `kc` rows of `V` vectors at stride `rs_b`;
        // all as the `Tile` contract promises.
        unsafe {
            if PF {
                for v in 0..V {
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(B_PREFETCH_ROWS * rs_b + v * LANES) as *const i8);
                }
            }
            let mut bv = [_mm512_setzero_ps(); V];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = _mm512_loadu_ps(b.add(v * LANES));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = if A_IN_PLACE { _mm512_set1_ps(*rows[i]) } else { _mm512_set1_ps(*a.add(i)) };
                for (x, &y) in row.iter_mut().zip(&bv) {
                    *x = _mm512_fmadd_ps(av, y, *x);
                }
            }
            if A_IN_PLACE {
                for r in rows.iter_mut() {
                    *r = r.add(1);
                }
            } else {
                a = a.add(MR);
            }
            b = b.add(rs_b);
        }
    }
}

/// [`pack_b_block`] compiled for AVX-512, so each 48-float copy of a B row is three zmm moves
/// inline rather than a `memcpy` call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pack_b_block_zmm(dst: &mut [f32], b: MatRef, depth: (usize, usize), columns: (usize, usize)) {
    pack_b_block::<NR>(dst, b, depth, columns, <Avx512 as MicroKernel>::pack_b);
}

/// [`pack_b`] into `W`-wide panels for B stored `[n, k]`: `16 × 16` blocks are transposed in
/// registers (16 loads, 64 shuffles, 16 stores), several times faster than a scalar transpose.
/// Edge blocks are transposed the same way: a depth edge loads its rows masked, a column edge
/// transposes zero rows in place of the missing ones, so its padding lanes come out as zeros.
/// Lanes past the 16-lane group holding the last column are left as they were: the kernel
/// runs `cols.div_ceil(16)` vectors wide and never reads them. This is the forward pass of
/// every linear layer (`x · Wᵀ`), and with narrow B (the `9`-wide weight gradient of a
/// `3 × 3` single-channel convolution) the edges are the whole panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pack_b_trans<const W: usize>(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
    let dst = &mut dst[..kc * W];
    for pb in (0..kc).step_by(LANES) {
        let depth = (kc - pb).min(LANES);
        let depth_mask = ((1u32 << depth) - 1) as __mmask16;
        for jb in (0..cols).step_by(LANES) {
            let mut r = [_mm512_setzero_ps(); LANES];
            for (jj, row) in r.iter_mut().enumerate().take((cols - jb).min(LANES)) {
                let src = &b.data[(j0 + jb + jj) * b.ld + p0 + pb..][..depth];
                // SAFETY: the lanes `depth_mask` enables are exactly `src`'s `depth` floats;
                // masked-off lanes are neither read nor able to fault.
                *row = unsafe { _mm512_maskz_loadu_ps(depth_mask, src.as_ptr()) };
            }
            let r = transpose16(r);
            for (pp, row) in r.iter().enumerate().take(depth) {
                let d = &mut dst[(pb + pp) * W + jb..][..LANES];
                // SAFETY: `d` holds exactly 16 floats (`jb + 16 <= W`: W is a multiple of 16).
                unsafe { _mm512_storeu_ps(d.as_mut_ptr(), *row) };
            }
        }
    }
}

/// [`pack_b`] into `W`-wide panels for B stored `[k, n]`: each depth step is `W / 16` masked
/// 16-float loads and as many stores, the lanes past `cols` loaded as zeros (the padding),
/// instead of a `memcpy` and a `memset` call per row of an edge panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn pack_b_rows<const W: usize>(dst: &mut [f32], b: MatRef, p0: usize, kc: usize, j0: usize, cols: usize) {
    let mask = |v: usize| -> __mmask16 { ((1u32 << cols.saturating_sub(v * LANES).min(LANES)) - 1) as __mmask16 };
    let masks: [__mmask16; 4] = std::array::from_fn(mask);
    for (p, d) in dst[..kc * W].chunks_exact_mut(W).enumerate() {
        let src = &b.data[(p0 + p) * b.ld + j0..][..cols];
        for (v, &m) in masks.iter().enumerate().take(W / LANES) {
            // SAFETY: lanes enabled by `m` lie inside `src` (columns below `cols`); masked-off
            // lanes are neither read nor able to fault; `d` holds W ≤ 4 × 16 floats.
            unsafe {
                let x = _mm512_maskz_loadu_ps(m, src.as_ptr().wrapping_add(v * LANES));
                _mm512_storeu_ps(d.as_mut_ptr().add(v * LANES), x);
            }
        }
    }
}

/// Transposes a 16 × 16 block held as 16 row vectors: unpack pairs of floats, then pairs of
/// doubles, then 128-bit lanes twice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(mut r: [__m512; LANES]) -> [__m512; LANES] {
    let mut t = [_mm512_setzero_ps(); LANES];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let (lo, hi) = (
        |x: __m512, y: __m512| _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(x), _mm512_castps_pd(y))),
        |x: __m512, y: __m512| _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(x), _mm512_castps_pd(y))),
    );
    for g in (0..LANES).step_by(4) {
        r[g] = lo(t[g], t[g + 2]);
        r[g + 1] = hi(t[g], t[g + 2]);
        r[g + 2] = lo(t[g + 1], t[g + 3]);
        r[g + 3] = hi(t[g + 1], t[g + 3]);
    }
    for h in [0, 8] {
        for i in 0..4 {
            t[h + i] = _mm512_shuffle_f32x4::<0x88>(r[h + i], r[h + i + 4]);
            t[h + i + 4] = _mm512_shuffle_f32x4::<0xdd>(r[h + i], r[h + i + 4]);
        }
    }
    for i in 0..8 {
        r[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
        r[i + 8] = _mm512_shuffle_f32x4::<0xdd>(t[i], t[i + 8]);
    }
    r
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::pack::pack_b;
    use super::*;

    #[test]
    fn simd_row_packing_of_b_matches_the_scalar_one() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let (k, n) = (9, 70);
        let data: Vec<f32> = (0..k * n).map(|i| i as f32).collect();
        let b = MatRef { data: &data, ld: n, trans: false };
        for (p0, kc, j0, cols) in [(0, 9, 0, 48), (2, 7, 5, 13), (0, 1, 22, 48), (1, 8, 40, 30), (0, 9, 69, 1)] {
            let mut simd = vec![f32::NAN; kc * NR];
            let mut scalar = vec![f32::NAN; kc * NR];
            // SAFETY: avx512f was detected above.
            unsafe { pack_b_rows::<NR>(&mut simd, b, p0, kc, j0, cols) };
            pack_b::<NR>(&mut scalar, b, p0, kc, j0, cols);
            assert_eq!(simd, scalar, "p0 {p0} kc {kc} j0 {j0} cols {cols}");
        }
        // Wide panels: 64 columns, full and partial.
        for (p0, kc, j0, cols) in [(0, 9, 0, 64), (2, 7, 6, 64), (1, 8, 3, 49), (0, 9, 10, 60)] {
            let mut simd = vec![f32::NAN; kc * WIDE_NR];
            let mut scalar = vec![f32::NAN; kc * WIDE_NR];
            // SAFETY: avx512f was detected above.
            unsafe { pack_b_rows::<WIDE_NR>(&mut simd, b, p0, kc, j0, cols) };
            pack_b::<WIDE_NR>(&mut scalar, b, p0, kc, j0, cols);
            assert_eq!(simd, scalar, "wide: p0 {p0} kc {kc} j0 {j0} cols {cols}");
        }
    }

    #[test]
    fn simd_transposed_packing_matches_the_scalar_one() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let (n, k) = (53, 70);
        let data: Vec<f32> = (0..n * k).map(|i| i as f32).collect();
        let b = MatRef { data: &data, ld: k, trans: true };
        // The lanes the kernel reads: every row's 16-lane groups up to the last column's.
        fn read_lanes<const W: usize>(panel: &[f32], cols: usize) -> Vec<f32> {
            panel.chunks_exact(W).flat_map(|row| row[..cols.next_multiple_of(LANES)].to_vec()).collect()
        }
        let narrow = [(0, 70, 0, 9), (2, 37, 44, 9), (0, 5, 1, 1), (1, 17, 3, 16), (0, 33, 7, 20)];
        let panels = [(0, 70, 0, 48), (3, 35, 5, 48), (0, 16, 0, 16), (1, 50, 40, 13), (0, 7, 2, 33)];
        for (p0, kc, j0, cols) in panels.into_iter().chain(narrow) {
            let mut simd = vec![f32::NAN; kc * NR];
            let mut scalar = vec![f32::NAN; kc * NR];
            // SAFETY: avx512f was detected above.
            unsafe { pack_b_trans::<NR>(&mut simd, b, p0, kc, j0, cols) };
            pack_b::<NR>(&mut scalar, b, p0, kc, j0, cols);
            let (simd, scalar) = (read_lanes::<NR>(&simd, cols), read_lanes::<NR>(&scalar, cols));
            assert_eq!(simd, scalar, "p0 {p0} kc {kc} j0 {j0} cols {cols}");
        }
        // Wide panels: 64 columns would overrun the 53 rows of B, so 49–53.
        for (p0, kc, j0, cols) in [(0, 70, 0, 53), (3, 35, 4, 49), (0, 16, 1, 52)] {
            let mut simd = vec![f32::NAN; kc * WIDE_NR];
            let mut scalar = vec![f32::NAN; kc * WIDE_NR];
            // SAFETY: avx512f was detected above.
            unsafe { pack_b_trans::<WIDE_NR>(&mut simd, b, p0, kc, j0, cols) };
            pack_b::<WIDE_NR>(&mut scalar, b, p0, kc, j0, cols);
            let (simd, scalar) = (read_lanes::<WIDE_NR>(&simd, cols), read_lanes::<WIDE_NR>(&scalar, cols));
            assert_eq!(simd, scalar, "wide: p0 {p0} kc {kc} j0 {j0} cols {cols}");
        }
    }
}
