//! im2col and col2im for stride 1 without padding. Every run is then a whole output row, read
//! from (or added to) consecutive input columns: `cols[row][oy·ow ..][.. ow]` pairs with
//! `x[c][(oy + ki)·w + kj ..][.. ow]`. The loops move whole vectors with masked edges, in each
//! instruction set's own registers ([`Lanes`]); `copy_from_slice` would call `memcpy` once per
//! run, which for runs of 10–30 floats costs more than the copy.

use super::Conv2dGeometry;
#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::{level, Level};

/// im2col of one image into `cols`, whose rows are `row_stride` floats apart.
pub(super) fn im2col(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        Level::Avx512 => return unsafe { im2col_avx512(x, g, cols, row_stride) },
        // SAFETY: as above.
        Level::Avx2 => return unsafe { im2col_avx2(x, g, cols, row_stride) },
        Level::Baseline => {}
    }
    im2col_with(x, g, cols, row_stride, Portable);
}

/// col2im of `cols` (rows `oh·ow` floats apart) into the image `x`, every element of which it
/// writes.
pub(super) fn col2im(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match level() {
        // SAFETY: `simd::level` never exceeds what this CPU reported.
        Level::Avx512 => return unsafe { col2im_avx512(cols, g, x) },
        // SAFETY: as above.
        Level::Avx2 => return unsafe { col2im_avx2(cols, g, x) },
        Level::Baseline => {}
    }
    col2im_with(cols, g, x, Portable);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn im2col_avx512(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
    im2col_with(x, g, cols, row_stride, {
        // SAFETY: this function is compiled with, and only called on a CPU with, AVX-512F.
        unsafe { avx512::Lanes::new() }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn im2col_avx2(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
    im2col_with(x, g, cols, row_stride, {
        // SAFETY: this function is compiled with, and only called on a CPU with, AVX2.
        unsafe { avx2::Lanes::new() }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn col2im_avx512(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    col2im_with(cols, g, x, {
        // SAFETY: this function is compiled with, and only called on a CPU with, AVX-512F.
        unsafe { avx512::Lanes::new() }
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn col2im_avx2(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    col2im_with(cols, g, x, {
        // SAFETY: this function is compiled with, and only called on a CPU with, AVX2.
        unsafe { avx2::Lanes::new() }
    });
}

/// One instruction set's vectors, as the loops below use them.
trait Lanes: Copy {
    /// A vector of [`Lanes::N`] floats.
    type V: Copy;
    const N: usize;
    fn zero(self) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lanes `lo..hi` loaded from `src + lane`, the others zero.
    ///
    /// # Safety
    /// `src + lane` must be readable for every lane in `lo..hi` (`hi <= N`); other lanes are
    /// never read, so `src` itself may point outside the buffer.
    unsafe fn load(self, src: *const f32, lo: usize, hi: usize) -> Self::V;
    /// Stores lanes `..n` at `dst + lane`.
    ///
    /// # Safety
    /// `dst + lane` must be writable for every lane below `n <= N`.
    unsafe fn store(self, dst: *mut f32, n: usize, v: Self::V);
}

/// The loops of [`im2col`], compiled into each instruction set's variant: each run is copied
/// a vector at a time, its last piece masked.
#[inline(always)]
fn im2col_with<L: Lanes>(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize, lanes: L) {
    let (oh, ow) = (g.oh(), g.ow());
    for (c, xc) in x.chunks_exact(g.h * g.w).take(g.c).enumerate() {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &xc[ki * g.w + kj..];
                for (oy, dst) in cols[row * row_stride..][..oh * ow].chunks_exact_mut(ow).enumerate() {
                    let src = &src[oy * g.w..][..ow];
                    for j in (0..ow).step_by(L::N) {
                        let n = (ow - j).min(L::N);
                        // SAFETY: lanes `..n` lie inside `src` and `dst` (both `ow` long).
                        unsafe { lanes.store(dst.as_mut_ptr().add(j), n, lanes.load(src.as_ptr().add(j), 0, n)) };
                    }
                }
            }
        }
    }
}

/// The loops of [`col2im`], compiled into each instruction set's variant. Gathers rather than
/// scatters: each vector of an input row sums, in registers, the runs of every kernel position
/// that covers it, masked to the lanes each one reaches, and is stored once. Adding the runs
/// into the image instead reads back, at a one-column offset, what the previous kernel column
/// just stored, and masked stores cannot forward to loads. The sum runs over `ki`, then `kj`,
/// as the general loops do, so both give the same bits.
#[inline(always)]
fn col2im_with<L: Lanes>(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32], lanes: L) {
    let (oh, ow) = (g.oh(), g.ow());
    let plane = oh * ow;
    for (c, xc) in x.chunks_exact_mut(g.h * g.w).take(g.c).enumerate() {
        for (iy, x_row) in xc.chunks_exact_mut(g.w).enumerate() {
            for ix in (0..g.w).step_by(L::N) {
                let n = (g.w - ix).min(L::N);
                let mut sum = lanes.zero();
                for ki in 0..g.kh {
                    let Some(oy) = iy.checked_sub(ki).filter(|&oy| oy < oh) else { continue };
                    for kj in 0..g.kw {
                        // Lane l reads output column ix + l - kj, if that is in 0..ow.
                        let (lo, hi) = (kj.saturating_sub(ix), (ow + kj).saturating_sub(ix).min(n));
                        if lo < hi {
                            let run = &cols[((c * g.kh + ki) * g.kw + kj) * plane + oy * ow..][..ow];
                            let base = run.as_ptr().wrapping_add(ix).wrapping_sub(kj);
                            // SAFETY: lane l in lo..hi reads `run[ix + l - kj]`, inside `run`.
                            sum = lanes.add(sum, unsafe { lanes.load(base, lo, hi) });
                        }
                    }
                }
                // SAFETY: lanes `..n` are columns `ix..ix + n` of `x_row`.
                unsafe { lanes.store(x_row.as_mut_ptr().add(ix), n, sum) };
            }
        }
    }
}

/// Plain arrays of 8 floats, which the compiler may vectorise for the target's baseline.
#[derive(Clone, Copy)]
struct Portable;

impl Lanes for Portable {
    type V = [f32; 8];
    const N: usize = 8;
    #[inline(always)]
    fn zero(self) -> [f32; 8] {
        [0.0; 8]
    }
    #[inline(always)]
    fn add(self, a: [f32; 8], b: [f32; 8]) -> [f32; 8] {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    unsafe fn load(self, src: *const f32, lo: usize, hi: usize) -> [f32; 8] {
        // SAFETY: the caller guarantees lanes `lo..hi` are readable.
        std::array::from_fn(|l| if (lo..hi).contains(&l) { unsafe { *src.wrapping_add(l) } } else { 0.0 })
    }
    #[inline(always)]
    unsafe fn store(self, dst: *mut f32, n: usize, v: [f32; 8]) {
        for (l, &v) in v.iter().enumerate().take(n) {
            // SAFETY: the caller guarantees lanes `..n` are writable.
            unsafe { *dst.add(l) = v };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// zmm registers; edges through `k` masks. Only constructed inside functions compiled
    /// with `avx512f`, after detection ([`Lanes::new`]'s contract).
    #[derive(Clone, Copy)]
    pub(super) struct Lanes(());

    impl Lanes {
        /// # Safety
        /// The CPU must have AVX-512F, and the value must only be used in functions compiled
        /// with it (so the intrinsics inline).
        pub(super) unsafe fn new() -> Lanes {
            Lanes(())
        }
    }

    #[inline(always)]
    fn mask(lo: usize, hi: usize) -> __mmask16 {
        (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
    }

    impl super::Lanes for Lanes {
        type V = __m512;
        const N: usize = 16;
        #[inline(always)]
        fn zero(self) -> __m512 {
            // SAFETY: (all methods) a `Lanes` exists only where AVX-512F was detected (`new`).
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            // SAFETY: see `zero`.
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn load(self, src: *const f32, lo: usize, hi: usize) -> __m512 {
            // SAFETY: see `zero`; masked-off lanes are neither read nor able to fault.
            unsafe { _mm512_maskz_loadu_ps(mask(lo, hi), src) }
        }
        #[inline(always)]
        unsafe fn store(self, dst: *mut f32, n: usize, v: __m512) {
            // SAFETY: see `load`.
            unsafe { _mm512_mask_storeu_ps(dst, mask(0, n), v) }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// ymm registers; edges through `vmaskmovps`, whole vectors through plain moves (masked
    /// stores are slow on some AMD cores). Only constructed after detection ([`Lanes::new`]).
    #[derive(Clone, Copy)]
    pub(super) struct Lanes(());

    impl Lanes {
        /// # Safety
        /// The CPU must have AVX2, and the value must only be used in functions compiled with
        /// it (so the intrinsics inline).
        pub(super) unsafe fn new() -> Lanes {
            Lanes(())
        }
    }

    /// Lanes `lo..hi` with their sign bit set.
    #[inline(always)]
    unsafe fn mask(lo: usize, hi: usize) -> __m256i {
        // SAFETY: AVX2 is available (the caller's contract).
        unsafe {
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let below_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi as i32), lane);
            let below_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(lo as i32), lane);
            _mm256_andnot_si256(below_lo, below_hi)
        }
    }

    impl super::Lanes for Lanes {
        type V = __m256;
        const N: usize = 8;
        #[inline(always)]
        fn zero(self) -> __m256 {
            // SAFETY: (all methods) a `Lanes` exists only where AVX2 was detected (`new`).
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            // SAFETY: see `zero`.
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn load(self, src: *const f32, lo: usize, hi: usize) -> __m256 {
            // SAFETY: see `zero`; masked-off lanes are neither read nor able to fault.
            unsafe {
                if lo == 0 && hi == 8 {
                    _mm256_loadu_ps(src)
                } else {
                    _mm256_maskload_ps(src, mask(lo, hi))
                }
            }
        }
        #[inline(always)]
        unsafe fn store(self, dst: *mut f32, n: usize, v: __m256) {
            // SAFETY: see `load`.
            unsafe {
                if n == 8 {
                    _mm256_storeu_ps(dst, v)
                } else {
                    _mm256_maskstore_ps(dst, mask(0, n), v)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant this CPU can run, against the general loops, on widths below, at and
    /// above the vector widths, with rows wider than the image (several images side by side).
    #[test]
    fn every_variant_matches_the_general_loops() {
        for (c, h, w, kh, kw) in
            [(2, 6, 7, 3, 3), (1, 28, 28, 3, 3), (3, 5, 40, 2, 5), (2, 9, 19, 1, 1), (1, 4, 4, 4, 4)]
        {
            let g = Conv2dGeometry { n: 1, c, h, w, o: 1, kh, kw, stride: (1, 1), padding: (0, 0), groups: 1 };
            let x: Vec<f32> = (0..c * h * w).map(|v| (v as f32 * 0.37).sin()).collect();
            let plane = g.oh() * g.ow();
            let row_stride = 3 * plane + 5;
            let mut want = vec![f32::NAN; g.patch_len() * row_stride];
            super::super::im2col_general(&x, &g, &mut want, row_stride);
            let cols: Vec<f32> = (0..g.patch_len() * plane).map(|v| (v as f32 * 0.11).cos()).collect();
            let mut want_x = vec![0.0; x.len()];
            super::super::col2im_general(&cols, &g, &mut want_x);
            let check = |name: &str, im2col: &dyn Fn(&mut [f32]), col2im: &dyn Fn(&mut [f32])| {
                let mut got = vec![f32::NAN; want.len()];
                im2col(&mut got);
                // Compare the rows' used parts; the gaps between them stay untouched.
                for (r, (g_row, w_row)) in got.chunks(row_stride).zip(want.chunks(row_stride)).enumerate() {
                    assert_eq!(g_row[..plane], w_row[..plane], "{name} im2col {c}x{h}x{w} k{kh}x{kw} row {r}");
                    assert!(g_row[plane..].iter().all(|v| v.is_nan()), "{name} im2col wrote past row {r}");
                }
                let mut got_x = vec![f32::NAN; x.len()];
                col2im(&mut got_x);
                assert_eq!(got_x, want_x, "{name} col2im {c}x{h}x{w} k{kh}x{kw}");
            };
            check("portable", &|o| im2col_with(&x, &g, o, row_stride, Portable), &|o| {
                col2im_with(&cols, &g, o, Portable)
            });
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx512f") {
                // SAFETY: avx512f was detected.
                check("avx512", &|o| unsafe { im2col_avx512(&x, &g, o, row_stride) }, &|o| unsafe {
                    col2im_avx512(&cols, &g, o)
                });
            }
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx2") {
                // SAFETY: avx2 was detected.
                check("avx2", &|o| unsafe { im2col_avx2(&x, &g, o, row_stride) }, &|o| unsafe {
                    col2im_avx2(&cols, &g, o)
                });
            }
        }
    }
}
