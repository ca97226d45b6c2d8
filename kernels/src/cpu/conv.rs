//! 2-D convolution by im2col + matmul, with both backward products.
//!
//! Layouts follow PyTorch: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, output `[n, o, oh, ow]`.

use super::gemm::PAR_MIN_MACS;
use super::matmul::{matmul, MatmulSpec};
use super::{for_each_piece, worth_splitting};
use std::cell::Cell;
use std::thread::LocalKey;

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
    im2col_strided(x, g, cols, g.oh() * g.ow());
}

/// [`im2col`] with rows `row_stride` floats apart, so several images can sit side by side in
/// one matrix (image `i` of a group at column offset `i * oh * ow`).
fn im2col_strided(x: &[f32], g: &Conv2dGeometry, cols: &mut [f32], row_stride: usize) {
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
fn input_row(g: &Conv2dGeometry, oy: usize, ki: usize) -> Option<usize> {
    (oy * g.stride.0 + ki).checked_sub(g.padding.0).filter(|&iy| iy < g.h)
}

/// The output columns `lo..hi` whose kernel column `kj` lands inside the image (the rest read
/// padding): `0 <= ox·s + kj - p < w`.
fn valid_columns(g: &Conv2dGeometry, kj: usize, ow: usize) -> (usize, usize) {
    let (s, p) = (g.stride.1, g.padding.1);
    let hi = if g.w + p > kj { ((g.w + p - kj - 1) / s + 1).min(ow) } else { 0 };
    let lo = p.saturating_sub(kj).div_ceil(s).min(hi);
    (lo, hi)
}

/// Folds `cols` `[c*kh*kw, oh*ow]` back into one image `[c, h, w]`, adding overlapping patches:
/// the adjoint of [`im2col`].
pub fn col2im(cols: &[f32], g: &Conv2dGeometry, x: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    x.fill(0.0);
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

thread_local! {
    /// The im2col matrix of the image (or image group) a thread is working on.
    static COLS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// A weight-gradient group's `dy` planes laid side by side.
    static DY_ROWS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The weight-gradient groups' partial sums (on the calling thread).
    static PARTIALS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with `len` floats of the thread's `slot` buffer (contents unspecified), reused
/// across calls so a warm training step allocates nothing here. The buffer is taken, not
/// borrowed, so a nested call on the same thread (a rayon worker that steals another image while
/// waiting) just gets a fresh one.
fn with_scratch<T>(slot: &'static LocalKey<Cell<Vec<f32>>>, len: usize, f: impl FnOnce(&mut [f32]) -> T) -> T {
    let mut buf = slot.take();
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = f(&mut buf[..len]);
    slot.set(buf);
    out
}

/// `out[n] = weight · im2col(x[n]) (+ bias per output channel)`; images run in parallel. Adding
/// the bias here, while the image's output is still in cache, saves a separate broadcast pass.
pub fn conv2d_forward(x: &[f32], weight: &[f32], bias: Option<&[f32]>, g: &Conv2dGeometry, out: &mut [f32]) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    let parallel = worth_splitting(g.n * g.o * plane * patch, PAR_MIN_MACS);
    for_each_piece(out, g.o * plane, parallel, &|n, out_n| {
        with_scratch(&COLS, patch * plane, |cols| {
            im2col(&x[n * img..(n + 1) * img], g, cols);
            matmul(weight, cols, out_n, MatmulSpec::new(g.o, plane, patch));
        });
        if let Some(bias) = bias {
            for (row, &b) in out_n.chunks_mut(plane).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    });
}

/// `dx[n] = col2im(weightᵀ · dy[n])`.
pub fn conv2d_backward_input(dy: &[f32], weight: &[f32], g: &Conv2dGeometry, dx: &mut [f32]) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    let parallel = worth_splitting(g.n * g.o * plane * patch, PAR_MIN_MACS);
    for_each_piece(dx, img, parallel, &|n, dx_n| {
        with_scratch(&COLS, patch * plane, |cols| {
            let spec = MatmulSpec { trans_a: true, ..MatmulSpec::new(patch, plane, g.o) };
            matmul(weight, &dy[n * g.o * plane..(n + 1) * g.o * plane], cols, spec);
            col2im(cols, g, dx_n);
        });
    });
}

/// Images per task of the weight gradient. Fixed (not derived from the thread count) so the
/// summation order, and with it the result, is the same on every machine.
const IMAGES_PER_GROUP: usize = 8;

/// `dw = Σₙ dy[n] · im2col(x[n])ᵀ`, and `db = Σ dy` over images and positions when asked.
///
/// Groups of [`IMAGES_PER_GROUP`] images run in parallel: a group lays its images' im2col
/// matrices side by side and its `dy` planes likewise, so its share of `dw` is one product of
/// depth `8·oh·ow` rather than eight shallow ones. The groups' partial sums are then added in
/// group order, which keeps the result deterministic.
pub fn conv2d_backward_weight(dy: &[f32], x: &[f32], g: &Conv2dGeometry, dw: &mut [f32], mut db: Option<&mut [f32]>) {
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let img = g.c * g.h * g.w;
    let groups = g.n.div_ceil(IMAGES_PER_GROUP);
    // Per group: its `dw` share (`o × patch`) followed by its `db` share (`o`).
    let share = g.o * patch + g.o;
    with_scratch(&PARTIALS, groups * share, |partials| {
        let parallel = worth_splitting(g.n * g.o * plane * patch, PAR_MIN_MACS);
        for_each_piece(partials, share, parallel, &|gi, partial| {
            let images = gi * IMAGES_PER_GROUP..((gi + 1) * IMAGES_PER_GROUP).min(g.n);
            let depth = images.len() * plane;
            let (pw, pb) = partial.split_at_mut(g.o * patch);
            with_scratch(&DY_ROWS, g.o * depth, |dy_rows| {
                // [o, depth]: each output channel's dy planes of the group's images, side by side.
                for (i, n) in images.clone().enumerate() {
                    for ch in 0..g.o {
                        let src = &dy[(n * g.o + ch) * plane..][..plane];
                        dy_rows[ch * depth + i * plane..][..plane].copy_from_slice(src);
                    }
                }
                with_scratch(&COLS, patch * depth, |cols| {
                    for (i, n) in images.clone().enumerate() {
                        im2col_strided(&x[n * img..(n + 1) * img], g, &mut cols[i * plane..], depth);
                    }
                    let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(g.o, patch, depth) };
                    matmul(dy_rows, cols, pw, spec);
                });
                for (b, row) in pb.iter_mut().zip(dy_rows.chunks(depth)) {
                    *b = row.iter().sum();
                }
            });
        });
        dw.fill(0.0);
        if let Some(db) = db.as_deref_mut() {
            db.fill(0.0);
        }
        for partial in partials.chunks(share) {
            let (pw, pb) = partial.split_at(g.o * patch);
            dw.iter_mut().zip(pw).for_each(|(d, p)| *d += p);
            if let Some(db) = db.as_deref_mut() {
                db.iter_mut().zip(pb).for_each(|(d, p)| *d += p);
            }
        }
    });
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
        conv2d_forward(&x, &[1.0; 4], None, &g, &mut out);
        assert_eq!(out, [12.0, 16.0, 24.0, 28.0]);
        // Padding 1, stride 2: corners see the padded border.
        let g2 = Conv2dGeometry { padding: (1, 1), stride: (2, 2), ..g };
        let mut out2 = vec![0.0; 4];
        conv2d_forward(&x, &[1.0; 4], None, &g2, &mut out2);
        assert_eq!(out2, [1.0, 5.0, 11.0, 28.0]);
    }

    #[test]
    fn im2col_matches_its_definition_for_every_stride_and_padding() {
        for (kh, kw, stride, padding) in [
            (3, 3, (1, 1), (0, 0)),
            (3, 2, (2, 3), (1, 2)),
            (1, 1, (2, 2), (0, 0)),
            (2, 4, (1, 3), (3, 1)),
            (5, 5, (1, 1), (2, 2)),
        ] {
            let g = Conv2dGeometry { n: 1, c: 2, h: 6, w: 7, o: 1, kh, kw, stride, padding };
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
            let g = Conv2dGeometry { n: 1, c: 2, h: 5, w: 4, o: 1, kh, kw, stride, padding };
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
