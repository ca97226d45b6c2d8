//! 2-D convolution by im2col + matmul, with both backward products.
//!
//! Layouts follow PyTorch: input `[n, c, h, w]`, weight `[o, c, kh, kw]`, output `[n, o, oh, ow]`.

mod unfold;

pub use unfold::{col2im, im2col};

use super::gemm::PAR_MIN_MACS;
use super::matmul::{matmul, MatmulSpec};
use super::reduce::lanewise_sum;
use super::{for_each_piece, worth_splitting};
use std::cell::Cell;
use std::thread::LocalKey;
use unfold::im2col_strided;

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
    pub(crate) fn oh(&self) -> usize {
        self.out_h().expect("conv2d geometry was validated by the caller")
    }
    pub(crate) fn ow(&self) -> usize {
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
                // [o, depth]: each output channel's dy planes of the group's images, side by
                // side; and in the same pass their sums, the group's share of the bias gradient.
                pb.fill(0.0);
                for (i, n) in images.clone().enumerate() {
                    for (ch, b) in pb.iter_mut().enumerate() {
                        let src = &dy[(n * g.o + ch) * plane..][..plane];
                        dy_rows[ch * depth + i * plane..][..plane].copy_from_slice(src);
                        *b += lanewise_sum(src);
                    }
                }
                with_scratch(&COLS, patch * depth, |cols| {
                    for (i, n) in images.clone().enumerate() {
                        im2col_strided(&x[n * img..(n + 1) * img], g, &mut cols[i * plane..], depth);
                    }
                    let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(g.o, patch, depth) };
                    matmul(dy_rows, cols, pw, spec);
                });
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
}
