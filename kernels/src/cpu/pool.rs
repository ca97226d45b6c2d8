//! Max and average 2-D pooling over `[n, c, h, w]`, with backward.

#[cfg(target_arch = "x86_64")]
use super::simd::Level;
use super::{for_each_piece, for_each_row, worth_splitting, SyncPtr, PAR_MIN_ELEMS};

/// Sizes of one pooling window sweep; `planes = n * c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Pool2dGeometry {
    /// Output height (floor mode, as PyTorch's default), or `None` when the window does not fit.
    pub fn out_h(&self) -> Option<usize> {
        (self.h + 2 * self.padding.0).checked_sub(self.kh).map(|v| v / self.stride.0 + 1)
    }
    pub fn out_w(&self) -> Option<usize> {
        (self.w + 2 * self.padding.1).checked_sub(self.kw).map(|v| v / self.stride.1 + 1)
    }
    fn out_hw(&self) -> (usize, usize) {
        (
            self.out_h().expect("pool geometry was validated by the caller"),
            self.out_w().expect("pool geometry was validated by the caller"),
        )
    }

    /// Whether the window is the common `2 × 2`, stride 2, unpadded one, which has fast paths.
    fn is_2x2(&self) -> bool {
        self.kh == 2 && self.kw == 2 && self.stride == (2, 2) && self.padding == (0, 0)
    }

    /// Input rows/cols covered by output (oy, ox), clipped to the image.
    fn window(&self, oy: usize, ox: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let y0 = (oy * self.stride.0) as isize - self.padding.0 as isize;
        let x0 = (ox * self.stride.1) as isize - self.padding.1 as isize;
        let clip = |start: isize, len: usize, lim: usize| {
            start.max(0) as usize..((start + len as isize).max(0) as usize).min(lim)
        };
        (clip(y0, self.kh, self.h), clip(x0, self.kw, self.w))
    }
}

/// Max pooling; `indices` receives, per output, the flat position (`y * w + x`) of the max inside
/// its plane, as f32, for the backward pass.
pub fn max_pool2d(x: &[f32], g: &Pool2dGeometry, out: &mut [f32], indices: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let plane_in = g.h * g.w;
    let two_by_two = g.is_2x2();
    assert_eq!(indices.len(), out.len(), "max_pool2d: one index per output");
    let idx = SyncPtr(indices.as_mut_ptr());
    for_each_piece(out, oh * ow, worth_splitting(x.len(), PAR_MIN_ELEMS), &|p, o| {
        // SAFETY: plane `p` of `indices` mirrors plane `p` of `out` (same length, checked above),
        // `for_each_piece` hands each plane to exactly one caller, and `indices` is borrowed
        // mutably for the whole call.
        let idx = unsafe { std::slice::from_raw_parts_mut(idx.get().add(p * oh * ow), o.len()) };
        let src = &x[p * plane_in..(p + 1) * plane_in];
        if two_by_two {
            #[cfg(target_arch = "x86_64")]
            if plane_in <= EXACT_POSITIONS {
                // SAFETY (both): `simd::level` never exceeds what this CPU reported.
                match super::simd::level() {
                    Level::Avx512 => return unsafe { max_pool_2x2_avx512(src, g.w, (oh, ow), o, idx) },
                    Level::Avx2 => return unsafe { max_pool_2x2_avx2(src, g.w, (oh, ow), o, idx) },
                    Level::Baseline => {}
                }
            }
            max_pool_2x2(src, g.w, (oh, ow), o, idx);
        } else {
            max_pool_windows(src, g, (oh, ow), o, idx);
        }
    });
}

/// Max pooling of one plane, any window. Scans each window row by row; the first maximum wins,
/// and a NaN wins and ends the scan of its row.
fn max_pool_windows(src: &[f32], g: &Pool2dGeometry, (oh, ow): (usize, usize), o: &mut [f32], idx: &mut [f32]) {
    for oy in 0..oh {
        for ox in 0..ow {
            let (ys, xs) = g.window(oy, ox);
            let (mut best, mut best_i) = (f32::NEG_INFINITY, usize::MAX);
            for y in ys {
                for x in xs.clone() {
                    let v = src[y * g.w + x];
                    if v > best || best_i == usize::MAX || v.is_nan() {
                        best = v;
                        best_i = y * g.w + x;
                        if v.is_nan() {
                            break;
                        }
                    }
                }
            }
            o[oy * ow + ox] = best;
            idx[oy * ow + ox] = best_i as f32;
        }
    }
}

/// [`max_pool_windows`] for the common `2 × 2`, stride 2, unpadded window, without the window
/// clipping: the same rule over the same four positions in the same order.
fn max_pool_2x2(src: &[f32], w: usize, (oh, ow): (usize, usize), out: &mut [f32], idx: &mut [f32]) {
    for oy in 0..oh {
        let (top, bottom) = (&src[2 * oy * w..][..2 * ow], &src[(2 * oy + 1) * w..][..2 * ow]);
        let (out, idx) = (&mut out[oy * ow..][..ow], &mut idx[oy * ow..][..ow]);
        for ox in 0..ow {
            let (a, b, c, d) = (top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]);
            // Selects rather than branches: which value wins is data-dependent and would
            // mispredict about half the time. Non-short-circuit `&`/`|` keep them branch-free.
            // Position numbers 0..4 are a, b, c, d; a NaN ends its row's scan.
            let take_b = !a.is_nan() & ((b > a) | b.is_nan());
            let (m, i) = if take_b { (b, 1) } else { (a, 0) };
            let take_c = (c > m) | c.is_nan();
            let (m, i) = if take_c { (c, 2) } else { (m, i) };
            let take_d = !c.is_nan() & ((d > m) | d.is_nan());
            let (m, i) = if take_d { (d, 3) } else { (m, i) };
            out[ox] = m;
            idx[ox] = (2 * oy * w + 2 * ox + (i & 1) + (i >> 1) * w) as f32;
        }
    }
}

/// Planes up to this size have every position exactly representable as an f32, so the SIMD
/// path's float arithmetic on positions gives the scalar path's indices.
#[cfg(target_arch = "x86_64")]
const EXACT_POSITIONS: usize = 1 << 24;

/// [`max_pool_2x2`] sixteen outputs at a time: each input row pair is loaded as 32 floats per
/// row, split into even and odd columns (`a b` on top, `c d` below), and the scalar path's
/// selection rule applied lane-wise with compare masks, NaN tests included, so values and
/// indices are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn max_pool_2x2_avx512(src: &[f32], w: usize, (oh, ow): (usize, usize), out: &mut [f32], idx: &mut [f32]) {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let lane = _mm512_setr_ps(0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.);
    let mask = |n: usize| ((1u32 << n) - 1) as __mmask16;
    let nan = |v: __m512| _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    let greater = |x: __m512, y: __m512| _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, y);
    for oy in 0..oh {
        let (top, bottom) = (&src[2 * oy * w..][..2 * ow], &src[(2 * oy + 1) * w..][..2 * ow]);
        let (out, idx) = (&mut out[oy * ow..][..ow], &mut idx[oy * ow..][..ow]);
        for ox in (0..ow).step_by(16) {
            let n = (ow - ox).min(16);
            let (first, second) = (mask((2 * n).min(16)), mask((2 * n).saturating_sub(16)));
            // Even and odd columns of the row's 2n floats from column 2·ox.
            let split = |row: &[f32]| {
                let row = &row[2 * ox..][..2 * n];
                // SAFETY: the masks enable exactly the first 2n lanes over the two vectors,
                // all inside `row`; masked-off lanes are neither read nor able to fault.
                let (lo, hi) = unsafe {
                    (
                        _mm512_maskz_loadu_ps(first, row.as_ptr()),
                        _mm512_maskz_loadu_ps(second, row.as_ptr().wrapping_add(16)),
                    )
                };
                (_mm512_permutex2var_ps(lo, even, hi), _mm512_permutex2var_ps(lo, odd, hi))
            };
            let ((a, b), (c, d)) = (split(top), split(bottom));
            let take_b = !nan(a) & (greater(b, a) | nan(b));
            let (m, at) = (_mm512_mask_blend_ps(take_b, a, b), _mm512_maskz_mov_ps(take_b, _mm512_set1_ps(1.0)));
            let take_c = greater(c, m) | nan(c);
            let (m, at) =
                (_mm512_mask_blend_ps(take_c, m, c), _mm512_mask_blend_ps(take_c, at, _mm512_set1_ps(w as f32)));
            let take_d = !nan(c) & (greater(d, m) | nan(d));
            let (m, at) =
                (_mm512_mask_blend_ps(take_d, m, d), _mm512_mask_blend_ps(take_d, at, _mm512_set1_ps((w + 1) as f32)));
            // Window corner 2·oy·w + 2·(ox + lane), plus the winner's offset in the window.
            let corner = _mm512_fmadd_ps(lane, _mm512_set1_ps(2.0), _mm512_set1_ps((2 * oy * w + 2 * ox) as f32));
            // SAFETY: lanes below n are outputs ox..ox + n of the row, inside `out` and `idx`.
            unsafe {
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(ox), mask(n), m);
                _mm512_mask_storeu_ps(idx.as_mut_ptr().add(ox), mask(n), _mm512_add_ps(corner, at));
            }
        }
    }
}

/// [`max_pool_2x2_avx512`] on AVX2, eight outputs at a time: the same rule with compare
/// vectors and blends in place of mask registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_pool_2x2_avx2(src: &[f32], w: usize, (oh, ow): (usize, usize), out: &mut [f32], idx: &mut [f32]) {
    use std::arch::x86_64::*;
    let lane = _mm256_setr_ps(0., 1., 2., 3., 4., 5., 6., 7.);
    let first_lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // Sign bit set in the lanes below n.
    let mask = |n: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), first_lanes);
    let nan = |v: __m256| _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
    let greater = |x: __m256, y: __m256| _mm256_cmp_ps::<_CMP_GT_OQ>(x, y);
    let (one, right, below_right) = (_mm256_set1_ps(1.0), _mm256_set1_ps(w as f32), _mm256_set1_ps((w + 1) as f32));
    for oy in 0..oh {
        let (top, bottom) = (&src[2 * oy * w..][..2 * ow], &src[(2 * oy + 1) * w..][..2 * ow]);
        let (out, idx) = (&mut out[oy * ow..][..ow], &mut idx[oy * ow..][..ow]);
        for ox in (0..ow).step_by(8) {
            let n = (ow - ox).min(8);
            // Even and odd columns of the row's 2n floats from column 2·ox.
            let split = |row: &[f32]| {
                let row = &row[2 * ox..][..2 * n];
                // SAFETY: the masks enable exactly the first 2n lanes over the two vectors, all
                // inside `row`; masked-off lanes are neither read nor able to fault.
                let (lo, hi) = unsafe {
                    (
                        _mm256_maskload_ps(row.as_ptr(), mask((2 * n).min(8))),
                        _mm256_maskload_ps(row.as_ptr().wrapping_add(8), mask((2 * n).saturating_sub(8))),
                    )
                };
                // Within each 128-bit half, then the halves' middle 64-bit pairs swapped.
                let order = |v: __m256| _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)));
                (order(_mm256_shuffle_ps::<0b10_00_10_00>(lo, hi)), order(_mm256_shuffle_ps::<0b11_01_11_01>(lo, hi)))
            };
            let ((a, b), (c, d)) = (split(top), split(bottom));
            let take_b = _mm256_andnot_ps(nan(a), _mm256_or_ps(greater(b, a), nan(b)));
            let (m, at) = (_mm256_blendv_ps(a, b, take_b), _mm256_and_ps(take_b, one));
            let take_c = _mm256_or_ps(greater(c, m), nan(c));
            let (m, at) = (_mm256_blendv_ps(m, c, take_c), _mm256_blendv_ps(at, right, take_c));
            let take_d = _mm256_andnot_ps(nan(c), _mm256_or_ps(greater(d, m), nan(d)));
            let (m, at) = (_mm256_blendv_ps(m, d, take_d), _mm256_blendv_ps(at, below_right, take_d));
            // Window corner 2·oy·w + 2·(ox + lane), plus the winner's offset in the window.
            let corner = _mm256_add_ps(_mm256_add_ps(lane, lane), _mm256_set1_ps((2 * oy * w + 2 * ox) as f32));
            // SAFETY: lanes below n are outputs ox..ox + n of the row, inside `out` and `idx`.
            unsafe {
                _mm256_maskstore_ps(out.as_mut_ptr().add(ox), mask(n), m);
                _mm256_maskstore_ps(idx.as_mut_ptr().add(ox), mask(n), _mm256_add_ps(corner, at));
            }
        }
    }
}

/// Routes each output gradient to the input position that won the max.
pub fn max_pool2d_backward(dy: &[f32], indices: &[f32], g: &Pool2dGeometry, dx: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let plane_in = g.h * g.w;
    for_each_row(dx, plane_in, |p, d| {
        let (gy, ix) = (&dy[p * oh * ow..(p + 1) * oh * ow], &indices[p * oh * ow..(p + 1) * oh * ow]);
        #[cfg(target_arch = "x86_64")]
        if g.is_2x2() && plane_in <= EXACT_POSITIONS {
            // SAFETY (both): `simd::level` never exceeds what this CPU reported.
            match super::simd::level() {
                Level::Avx512 => return unsafe { max_pool_2x2_backward_avx512(gy, ix, (g.h, g.w), (oh, ow), d) },
                Level::Avx2 => return unsafe { max_pool_2x2_backward_avx2(gy, ix, (g.h, g.w), (oh, ow), d) },
                Level::Baseline => {}
            }
        }
        d.iter_mut().for_each(|v| *v = 0.0);
        for (g, &i) in gy.iter().zip(ix) {
            d[i as usize] += g;
        }
    });
}

/// [`max_pool2d_backward`] of one plane for the `2 × 2`, stride 2, unpadded window, sixteen
/// outputs at a time. Windows do not overlap, so each input position gets its window's gradient
/// or zero, written once: each gradient is compared against its window's four positions, and
/// the even and odd columns interleaved back into the two rows, with no zero fill before and no
/// scatter after. The gradient is written as `0.0 + g`, the sum the scatter makes, so the bits
/// are the same (a `-0.0` gradient arrives as `+0.0`). (Without vectors the four compares per
/// input cost more than the zero fill and scatter they replace, so CPUs without AVX2 keep those;
/// see BENCHMARKS.md.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn max_pool_2x2_backward_avx512(
    dy: &[f32],
    idx: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    d: &mut [f32],
) {
    use std::arch::x86_64::*;
    let d = &mut d[..h * w];
    let lane = _mm512_setr_ps(0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.);
    // Even columns from the first vector, odd ones from the second: lanes 0–7, then 8–15.
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    let mask = |n: usize| ((1u32 << n) - 1) as __mmask16;
    let offsets = [0.0, 1.0, w as f32, (w + 1) as f32].map(|o| _mm512_set1_ps(o));
    for oy in 0..oh {
        let (top, bottom) = d[2 * oy * w..][..2 * w].split_at_mut(w);
        for ox in (0..ow).step_by(16) {
            let n = (ow - ox).min(16);
            // SAFETY: lanes below n are outputs ox..ox + n of row oy, inside `dy` and `idx`;
            // masked-off lanes are neither read nor able to fault.
            let (g, at) = unsafe {
                (
                    _mm512_maskz_loadu_ps(mask(n), dy[oy * ow + ox..].as_ptr()),
                    _mm512_maskz_loadu_ps(mask(n), idx[oy * ow + ox..].as_ptr()),
                )
            };
            let g = _mm512_add_ps(_mm512_setzero_ps(), g);
            // The winner's offset in its window; exact, as positions are below 2^24.
            let corner = _mm512_fmadd_ps(lane, _mm512_set1_ps(2.0), _mm512_set1_ps((2 * oy * w + 2 * ox) as f32));
            let at = _mm512_sub_ps(at, corner);
            let [a, b, c, e] = offsets.map(|o| _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(at, o), g));
            // The lanes past 2n hold zeros (their gradients were loaded as zeros), so the last
            // vectors also write an odd width's uncovered last column when it falls in them.
            let len = (w - 2 * ox).min(32);
            let (first, second) = (mask(len.min(16)), mask(len.saturating_sub(16)));
            for (row, even, odd) in [(&mut *top, a, b), (&mut *bottom, c, e)] {
                let row = &mut row[2 * ox..][..len];
                // SAFETY: the masks enable exactly the first `len` lanes over the two vectors,
                // all inside `row`; masked-off lanes are not written.
                unsafe {
                    _mm512_mask_storeu_ps(row.as_mut_ptr(), first, _mm512_permutex2var_ps(even, low, odd));
                    _mm512_mask_storeu_ps(
                        row.as_mut_ptr().wrapping_add(16),
                        second,
                        _mm512_permutex2var_ps(even, high, odd),
                    );
                }
            }
        }
        // Only when the last column lies past the last 32 lanes written.
        if w - 2 * ((ow - 1) / 16 * 16) > 32 {
            top[2 * ow..].fill(0.0);
            bottom[2 * ow..].fill(0.0);
        }
    }
    // An odd height leaves a last row no window covers.
    d[2 * oh * w..].fill(0.0);
}

/// [`max_pool_2x2_backward_avx512`] on AVX2, eight outputs at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn max_pool_2x2_backward_avx2(
    dy: &[f32],
    idx: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    d: &mut [f32],
) {
    use std::arch::x86_64::*;
    let d = &mut d[..h * w];
    let lane = _mm256_setr_ps(0., 1., 2., 3., 4., 5., 6., 7.);
    let first_lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = |n: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), first_lanes);
    let offsets = [0.0, 1.0, w as f32, (w + 1) as f32].map(|o| _mm256_set1_ps(o));
    for oy in 0..oh {
        let (top, bottom) = d[2 * oy * w..][..2 * w].split_at_mut(w);
        for ox in (0..ow).step_by(8) {
            let n = (ow - ox).min(8);
            // SAFETY: lanes below n are outputs ox..ox + n of row oy, inside `dy` and `idx`;
            // masked-off lanes are neither read nor able to fault.
            let (g, at) = unsafe {
                (
                    _mm256_maskload_ps(dy[oy * ow + ox..].as_ptr(), mask(n)),
                    _mm256_maskload_ps(idx[oy * ow + ox..].as_ptr(), mask(n)),
                )
            };
            let g = _mm256_add_ps(_mm256_setzero_ps(), g);
            let corner = _mm256_add_ps(_mm256_add_ps(lane, lane), _mm256_set1_ps((2 * oy * w + 2 * ox) as f32));
            let at = _mm256_sub_ps(at, corner);
            let [a, b, c, e] = offsets.map(|o| _mm256_and_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(at, o), g));
            // As in the AVX-512 version, the lanes past 2n are zeros.
            let len = (w - 2 * ox).min(16);
            let (first, second) = (mask(len.min(8)), mask(len.saturating_sub(8)));
            for (row, even, odd) in [(&mut *top, a, b), (&mut *bottom, c, e)] {
                let row = &mut row[2 * ox..][..len];
                // Pairs interleaved within each 128-bit half, then the halves put in order.
                let (lo, hi) = (_mm256_unpacklo_ps(even, odd), _mm256_unpackhi_ps(even, odd));
                // SAFETY: the masks enable exactly the first `len` lanes over the two vectors,
                // all inside `row`; masked-off lanes are not written.
                unsafe {
                    _mm256_maskstore_ps(row.as_mut_ptr(), first, _mm256_permute2f128_ps::<0x20>(lo, hi));
                    _mm256_maskstore_ps(
                        row.as_mut_ptr().wrapping_add(8),
                        second,
                        _mm256_permute2f128_ps::<0x31>(lo, hi),
                    );
                }
            }
        }
        if w - 2 * ((ow - 1) / 8 * 8) > 16 {
            top[2 * ow..].fill(0.0);
            bottom[2 * ow..].fill(0.0);
        }
    }
    d[2 * oh * w..].fill(0.0);
}

/// Average pooling; padding counts towards the divisor (PyTorch's `count_include_pad=True`).
pub fn avg_pool2d(x: &[f32], g: &Pool2dGeometry, out: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let plane_in = g.h * g.w;
    let div = (g.kh * g.kw) as f32;
    for_each_row(out, oh * ow, |p, o| {
        let src = &x[p * plane_in..(p + 1) * plane_in];
        for oy in 0..oh {
            for ox in 0..ow {
                let (ys, xs) = g.window(oy, ox);
                let mut sum = 0.0;
                for y in ys {
                    sum += src[y * g.w + xs.start..y * g.w + xs.end].iter().sum::<f32>();
                }
                o[oy * ow + ox] = sum / div;
            }
        }
    });
}

/// Spreads each output gradient evenly over its window.
pub fn avg_pool2d_backward(dy: &[f32], g: &Pool2dGeometry, dx: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let div = (g.kh * g.kw) as f32;
    for_each_row(dx, g.h * g.w, |p, d| {
        d.iter_mut().for_each(|v| *v = 0.0);
        let gy = &dy[p * oh * ow..(p + 1) * oh * ow];
        for oy in 0..oh {
            for ox in 0..ow {
                let (ys, xs) = g.window(oy, ox);
                let share = gy[oy * ow + ox] / div;
                for y in ys {
                    d[y * g.w + xs.start..y * g.w + xs.end].iter_mut().for_each(|v| *v += share);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2x2_fast_paths_match_the_general_window_scan_with_ties_and_nans() {
        for (h, w, seed) in
            (0..20u32).map(|s| (7, 9, s)).chain([(5, 40, 3), (4, 33, 4), (6, 64, 5), (3, 2, 6), (4, 17, 7), (2, 18, 8)])
        {
            let g = Pool2dGeometry { planes: 1, h, w, kh: 2, kw: 2, stride: (2, 2), padding: (0, 0) };
            let (oh, ow) = g.out_hw();
            // Few distinct values, so ties are common, and NaNs in some windows.
            let x: Vec<f32> = (0..h * w)
                .map(|i| {
                    let r = ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) >> 7;
                    if r.is_multiple_of(11) {
                        f32::NAN
                    } else {
                        (r % 3) as f32
                    }
                })
                .collect();
            let (mut fast, mut fast_i) = (vec![0.0; oh * ow], vec![0.0; oh * ow]);
            let (mut general, mut general_i) = (vec![0.0; oh * ow], vec![0.0; oh * ow]);
            max_pool_2x2(&x, w, (oh, ow), &mut fast, &mut fast_i);
            max_pool_windows(&x, &g, (oh, ow), &mut general, &mut general_i);
            assert_eq!(fast_i, general_i, "seed {seed}");
            for (a, b) in fast.iter().zip(&general) {
                assert!(a == b || (a.is_nan() && b.is_nan()), "seed {seed}: {a} vs {b}");
            }
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx512f") {
                let (mut simd, mut simd_i) = (vec![f32::NAN; oh * ow], vec![f32::NAN; oh * ow]);
                // SAFETY: avx512f was detected.
                unsafe { max_pool_2x2_avx512(&x, w, (oh, ow), &mut simd, &mut simd_i) };
                assert_eq!(simd_i, general_i, "avx512 {h}x{w} seed {seed}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&simd), bits(&fast), "avx512 {h}x{w} seed {seed}");
            }
            #[cfg(target_arch = "x86_64")]
            if is_x86_feature_detected!("avx2") {
                let (mut simd, mut simd_i) = (vec![f32::NAN; oh * ow], vec![f32::NAN; oh * ow]);
                // SAFETY: avx2 was detected.
                unsafe { max_pool_2x2_avx2(&x, w, (oh, ow), &mut simd, &mut simd_i) };
                assert_eq!(simd_i, general_i, "avx2 {h}x{w} seed {seed}");
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&simd), bits(&fast), "avx2 {h}x{w} seed {seed}");
            }
        }
    }

    // Only x86-64 has a fast path for the backward pass.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_2x2_backward_fast_paths_match_the_general_scatter() {
        for (h, w) in
            [(7, 9), (5, 40), (4, 33), (6, 64), (3, 2), (2, 3), (9, 35), (3, 65), (2, 66), (5, 11), (3, 17), (2, 18)]
        {
            let g = Pool2dGeometry { planes: 1, h, w, kh: 2, kw: 2, stride: (2, 2), padding: (0, 0) };
            let (oh, ow) = g.out_hw();
            // Winners in every corner of the windows; gradients of both signs, -0.0 and NaN.
            let idx: Vec<f32> = (0..oh * ow)
                .map(|o| {
                    let (oy, ox) = (o / ow, o % ow);
                    let at = [0, 1, w, w + 1][(o * 7 + o / 3) % 4];
                    (2 * oy * w + 2 * ox + at) as f32
                })
                .collect();
            let dy: Vec<f32> =
                (0..oh * ow).map(|o| [1.5, -2.0, -0.0, f32::NAN, 0.25][o % 5] * (1 + o % 3) as f32).collect();
            // The general path: a zero fill, then the scatter.
            let mut general = vec![0.0; h * w];
            for (&gr, &i) in dy.iter().zip(&idx) {
                general[i as usize] += gr;
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            if is_x86_feature_detected!("avx512f") {
                let mut simd = vec![f32::NAN; h * w];
                // SAFETY: avx512f was detected.
                unsafe { max_pool_2x2_backward_avx512(&dy, &idx, (h, w), (oh, ow), &mut simd) };
                assert_eq!(bits(&simd), bits(&general), "avx512 {h}x{w}");
            }
            if is_x86_feature_detected!("avx2") {
                let mut simd = vec![f32::NAN; h * w];
                // SAFETY: avx2 was detected.
                unsafe { max_pool_2x2_backward_avx2(&dy, &idx, (h, w), (oh, ow), &mut simd) };
                assert_eq!(bits(&simd), bits(&general), "avx2 {h}x{w}");
            }
        }
    }

    #[test]
    fn pools_match_hand_computed_values() {
        // [[1,2,3,4],[5,6,7,8],[9,10,11,12],[13,14,15,16]]
        let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let g = Pool2dGeometry { planes: 1, h: 4, w: 4, kh: 2, kw: 2, stride: (2, 2), padding: (0, 0) };
        let (mut out, mut idx) = (vec![0.0; 4], vec![0.0; 4]);
        max_pool2d(&x, &g, &mut out, &mut idx);
        assert_eq!(out, [6.0, 8.0, 14.0, 16.0]);
        assert_eq!(idx, [5.0, 7.0, 13.0, 15.0]);
        avg_pool2d(&x, &g, &mut out);
        assert_eq!(out, [3.5, 5.5, 11.5, 13.5]);
        let mut dx = vec![0.0; 16];
        max_pool2d_backward(&[1.0, 2.0, 3.0, 4.0], &idx, &g, &mut dx);
        assert_eq!(dx[5], 1.0);
        assert_eq!(dx[15], 4.0);
        assert_eq!(dx.iter().sum::<f32>(), 10.0);
        // Padding 1, kernel 3, stride 1 on the corner: average includes the zero padding.
        let gp = Pool2dGeometry { kh: 3, kw: 3, stride: (1, 1), padding: (1, 1), ..g };
        let mut outp = vec![0.0; 16];
        avg_pool2d(&x, &gp, &mut outp);
        assert_eq!(outp[0], (1.0 + 2.0 + 5.0 + 6.0) / 9.0);
    }
}
