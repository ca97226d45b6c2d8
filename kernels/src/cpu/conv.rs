//! 2-D convolution by im2col + matmul, with both backward products.
//!
//! Layouts follow PyTorch: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, output `[n, o, oh, ow]`.

use super::matmul::{matmul, MatmulSpec};
use rayon::prelude::*;

/// Sizes of one convolution. `oh`/`ow` are derived and checked by the caller to be positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub padding: (usize, usize),
}

impl Conv2dGeometry {
    /// Output height, or `None` when the padded input is smaller than the kernel.
    pub fn out_h(&self) -> Option<usize> {
        (self.h + 2 * self.padding.0).checked_sub(self.kh).map(|v| v / self.stride.0 + 1)
    }
    pub fn out_w(&self) -> Option<usize> {
        (self.w + 2 * self.padding.1).checked_sub(self.kw).map(|v| v / self.stride.1 + 1)
    }
    fn oh(&self) -> usize {
        self.out_h().expect("conv2d geometry was validated by the caller")
    }
    fn ow(&self) -> usize {
        self.out_w().expect("conv2d geometry was validated by the caller")
    }
    /// Rows of the im2col matrix: `c * kh * kw`.
    pub fn patch_len(&self) -> usize {
        self.c * self.kh * self.kw
    }
    pub fn flops(&self) -> u64 {
        2 * (self.n * self.o * self.oh() * self.ow() * self.patch_len()) as u64
    }
}

/// Unfolds one image `[c, h, w]` into `cols` `[c*kh*kw, oh*ow]` (zeros where the kernel hangs
/// over the padding).
pub fn im2col(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    for c in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst = &mut cols[row * oh * ow..(row + 1) * oh * ow];
                for oy in 0..oh {
                    let iy = (oy * g.stride.0 + ki) as isize - g.padding.0 as isize;
                    for ox in 0..ow {
                        let ix = (ox * g.stride.1 + kj) as isize - g.padding.1 as isize;
                        dst[oy * ow + ox] = if iy >= 0 && (iy as usize) < g.h && ix >= 0 && (ix as usize) < g.w {
                            x[(c * g.h + iy as usize) * g.w + ix as usize]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Folds `cols` `[c*kh*kw, oh*ow]` back into one image `[c, h, w]`, adding overlapping patches:
/// the adjoint of [`im2col`].
pub fn col2im(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    x.iter_mut().for_each(|v| *v = 0.0);
    for c in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &cols[row * oh * ow..(row + 1) * oh * ow];
                for oy in 0..oh {
                    let iy = (oy * g.stride.0 + ki) as isize - g.padding.0 as isize;
                    if iy < 0 || iy as usize >= g.h {
                        continue;
                    }
                    for ox in 0..ow {
                        let ix = (ox * g.stride.1 + kj) as isize - g.padding.1 as isize;
                        if ix >= 0 && (ix as usize) < g.w {
                            x[(c * g.h + iy as usize) * g.w + ix as usize] += src[oy * ow + ox];
                        }
                    }
                }
            }
        }
    }
}

/// `out[n] = weight · im2col(x[n])`; images run in parallel.
pub fn conv2d_forward(x: &[f32], weight: &[f32], g: &Conv2dGeometry, out: &mut [f32]) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    out.par_chunks_mut(g.o * plane).enumerate().for_each(|(n, out_n)| {
        let mut cols = vec![0.0; patch * plane];
        im2col(&x[n * img..(n + 1) * img], g, &mut cols);
        matmul(weight, &cols, out_n, MatmulSpec::new(g.o, plane, patch));
    });
}

/// `dx[n] = col2im(weightᵀ · dy[n])`.
pub fn conv2d_backward_input(dy: &[f32], weight: &[f32], g: &Conv2dGeometry, dx: &mut [f32]) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    dx.par_chunks_mut(img).enumerate().for_each(|(n, dx_n)| {
        let mut cols = vec![0.0; patch * plane];
        let spec = MatmulSpec { trans_a: true, ..MatmulSpec::new(patch, plane, g.o) };
        matmul(weight, &dy[n * g.o * plane..(n + 1) * g.o * plane], &mut cols, spec);
        col2im(&cols, g, dx_n);
    });
}

/// `dw = Σₙ dy[n] · im2col(x[n])ᵀ`, summed in image order so the result is deterministic.
pub fn conv2d_backward_weight(dy: &[f32], x: &[f32], g: &Conv2dGeometry, dw: &mut [f32]) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    dw.iter_mut().for_each(|v| *v = 0.0);
    let mut cols = vec![0.0; patch * plane];
    for n in 0..g.n {
        im2col(&x[n * img..(n + 1) * img], g, &mut cols);
        let spec = MatmulSpec { trans_b: true, accumulate: true, ..MatmulSpec::new(g.o, patch, plane) };
        matmul(&dy[n * g.o * plane..(n + 1) * g.o * plane], &cols, dw, spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_matches_hand_computed_values() {
        // One 3x3 image, one 2x2 kernel of ones, stride 1, no padding: sums of 2x2 windows.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let g = Conv2dGeometry { n: 1, c: 1, h: 3, w: 3, o: 1, kh: 2, kw: 2, stride: (1, 1), padding: (0, 0) };
        let mut out = vec![0.0; 4];
        conv2d_forward(&x, &[1.0; 4], &g, &mut out);
        assert_eq!(out, [12.0, 16.0, 24.0, 28.0]);
        // Padding 1, stride 2: corners see the padded border.
        let g2 = Conv2dGeometry { padding: (1, 1), stride: (2, 2), ..g };
        let mut out2 = vec![0.0; 4];
        conv2d_forward(&x, &[1.0; 4], &g2, &mut out2);
        assert_eq!(out2, [1.0, 5.0, 11.0, 28.0]);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let g = Conv2dGeometry { n: 1, c: 2, h: 5, w: 4, o: 1, kh: 3, kw: 2, stride: (2, 1), padding: (1, 0) };
        let x: Vec<f32> = (0..40).map(|v| (v as f32 * 0.7).sin()).collect();
        let cols_len = g.patch_len() * g.oh() * g.ow();
        let c: Vec<f32> = (0..cols_len).map(|v| (v as f32 * 0.3).cos()).collect();
        let mut ix = vec![0.0; cols_len];
        im2col(&x, &g, &mut ix);
        let mut ct = vec![0.0; 40];
        col2im(&c, &g, &mut ct);
        let lhs: f32 = ix.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f32 = x.iter().zip(&ct).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
    }
}
