//! im2col, which unfolds an image into the matrix whose product with the weights is the
//! convolution, and its adjoint col2im, which folds such a matrix back (adding overlaps).
//!
//! Both move many short runs: one output row of a small image (11 floats for the second layer
//! of a 28 × 28 convnet) per kernel position and channel. Stride 1 without padding, the "valid"
//! 3 × 3 layers of most small convnets, takes the [`dense`] path, which moves each run with a
//! few vector instructions; everything else takes the general loops here.

mod dense;

use super::Conv2dGeometry;

/// Whether [`dense`] handles this geometry: stride 1 and no padding.
fn is_dense(g: &Conv2dGeometry) -> bool {
    g.stride == (1, 1) && g.padding == (0, 0)
}

/// Unfolds one image `[c, h, w]` into `cols` `[c*kh*kw, oh*ow]` (zeros where the kernel hangs
/// over the padding).
pub fn im2col(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32]) {
    im2col_strided(x, g, cols, g.oh() * g.ow());
}

/// [`im2col`] with rows `row_stride` floats apart, so several images can sit side by side in
/// one matrix (image `i` of a group at column offset `i * oh * ow`).
pub(super) fn im2col_strided(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
    if is_dense(g) {
        return dense::im2col(x, g, cols, row_stride);
    }
    im2col_general(x, g, cols, row_stride);
}

/// [`im2col_strided`] for any stride and padding, one output row at a time.
fn im2col_general(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
    let (oh, ow) = (g.oh(), g.ow());
    for c in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let (lo, hi) = valid_columns(g, kj, ow);
                for oy in 0..oh {
                    let dst = &mut cols[row * row_stride + oy * ow..][..ow];
                    let Some(iy) = input_row(g, oy, ki) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &x[(c * g.h + iy) * g.w..][..g.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if g.stride.1 == 1 {
                        // Contiguous: the whole valid run is one copy.
                        dst[lo..hi].copy_from_slice(&src[lo + kj - g.padding.1..hi + kj - g.padding.1]);
                    } else {
                        for (ox, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                            *d = src[ox * g.stride.1 + kj - g.padding.1];
                        }
                    }
                }
            }
        }
    }
}

/// The input row that output row `oy` reads at kernel row `ki`, or `None` in the padding.
pub(super) fn input_row(g: &Conv2dGeometry, oy: usize, ki: usize) -> Option<usize> {
    (oy * g.stride.0 + ki).checked_sub(g.padding.0).filter(|&iy| iy < g.h)
}

/// The output columns `lo..hi` whose kernel column `kj` lands inside the image (the rest read
/// padding): `0 <= ox·s + kj - p < w`.
pub(super) fn valid_columns(g: &Conv2dGeometry, kj: usize, ow: usize) -> (usize, usize) {
    let (s, p) = (g.stride.1, g.padding.1);
    let hi = if g.w + p > kj { ((g.w + p - kj - 1) / s + 1).min(ow) } else { 0 };
    let lo = p.saturating_sub(kj).div_ceil(s).min(hi);
    (lo, hi)
}

/// Folds `cols` `[c*kh*kw, oh*ow]` back into one image `[c, h, w]`, adding overlapping patches:
/// the adjoint of [`im2col`].
pub fn col2im(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    if is_dense(g) {
        return dense::col2im(cols, g, x);
    }
    x.fill(0.0);
    col2im_general(cols, g, x);
}

/// [`col2im`] for any stride and padding, into a zeroed `x`.
fn col2im_general(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    for c in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let (lo, hi) = valid_columns(g, kj, ow);
                for oy in 0..oh {
                    let Some(iy) = input_row(g, oy, ki) else { continue };
                    let src = &cols[(row * oh + oy) * ow..][..ow];
                    let dst = &mut x[(c * g.h + iy) * g.w..][..g.w];
                    if g.stride.1 == 1 {
                        // Contiguous: one vectorisable slice addition.
                        let dst = &mut dst[lo + kj - g.padding.1..hi + kj - g.padding.1];
                        dst.iter_mut().zip(&src[lo..hi]).for_each(|(d, s)| *d += s);
                    } else {
                        for ox in lo..hi {
                            dst[ox * g.stride.1 + kj - g.padding.1] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_matches_its_definition_for_every_stride_and_padding() {
        for (kh, kw, stride, padding) in [
            (3, 3, (1, 1), (0, 0)),
            (3, 2, (2, 3), (1, 2)),
            (1, 1, (2, 2), (0, 0)),
            (2, 4, (1, 3), (3, 1)),
            (5, 5, (1, 1), (2, 2)),
        ] {
            let g = Conv2dGeometry { n: 1, c: 2, h: 6, w: 7, o: 1, kh, kw, stride, padding, groups: 1 };
            let x: Vec<f32> = (0..2 * 6 * 7).map(|v| v as f32 + 1.0).collect();
            let (oh, ow) = (g.oh(), g.ow());
            let mut cols = vec![f32::NAN; g.patch_len() * oh * ow];
            im2col(&x, &g, &mut cols);
            for c in 0..2 {
                for ki in 0..kh {
                    for kj in 0..kw {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let iy = (oy * stride.0 + ki) as isize - padding.0 as isize;
                                let ix = (ox * stride.1 + kj) as isize - padding.1 as isize;
                                let inside = (0..6).contains(&iy) && (0..7).contains(&ix);
                                let want = if inside { x[(c * 6 + iy as usize) * 7 + ix as usize] } else { 0.0 };
                                let got = cols[(((c * kh + ki) * kw + kj) * oh + oy) * ow + ox];
                                assert_eq!(got, want, "{g:?} c{c} k({ki},{kj}) o({oy},{ox})");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        for (kh, kw, stride, padding) in [(3, 2, (2, 1), (1, 0)), (3, 2, (2, 3), (1, 2)), (2, 4, (1, 3), (3, 1))] {
            let g = Conv2dGeometry { n: 1, c: 2, h: 5, w: 4, o: 1, kh, kw, stride, padding, groups: 1 };
            let x: Vec<f32> = (0..40).map(|v| (v as f32 * 0.7).sin()).collect();
            let cols_len = g.patch_len() * g.oh() * g.ow();
            let c: Vec<f32> = (0..cols_len).map(|v| (v as f32 * 0.3).cos()).collect();
            let mut ix = vec![0.0; cols_len];
            im2col(&x, &g, &mut ix);
            let mut ct = vec![0.0; 40];
            col2im(&c, &g, &mut ct);
            let lhs: f32 = ix.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&ct).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{g:?}: {lhs} vs {rhs}");
        }
    }
}
