//! 2-D convolution by im2col + matmul, with both backward products, for any number of groups.
//!
//! Layouts follow PyTorch: input `[n, c, h, w]`, weight `[o, c/groups, kh, kw]`, output
//! `[n, o, oh, ow]`; output channel `oc` belongs to group `oc / (o/groups)` and sees only that
//! group's `c/groups` input channels. Grouped convolutions run the im2col + GEMM path once per
//! group on the group's channel slice (one group is today's plain convolution, same code);
//! depthwise ones (one input channel per group) go to [`depthwise`], which loops over the
//! kernel taps directly, since a GEMM of depth `kh·kw` per channel would spend its time packing.

mod depthwise;
mod epilogue;
mod unfold;

pub use epilogue::{ConvActivation, ConvEpilogue};
pub use unfold::{col2im, im2col};

use super::gemm::PAR_MIN_MACS;
use super::matmul::{matmul, MatmulSpec};
use super::reduce::lanewise_sum;
use super::{for_each_piece, worth_splitting};
use std::cell::Cell;
use std::thread::LocalKey;
use unfold::im2col_strided;

/// Sizes of one convolution. `oh`/`ow` are derived and checked by the caller to be positive,
/// and `groups` (at least 1) divides both `c` and `o` ([`Conv2dGeometry::groups_error`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Step between kernel positions, `(h, w)`.
    pub stride: (usize, usize),
    /// Zeros added on each side, `(h, w)`.
    pub padding: (usize, usize),
    /// Channel groups (PyTorch's `groups`): 1 is a plain convolution, `c` a depthwise one.
    pub groups: usize,
}

impl Conv2dGeometry {
    /// Why `groups` does not fit the channel counts, or `None` when it does (at least 1 and
    /// dividing both `c` and `o`).
    pub fn groups_error(&self) -> Option<String> {
        let (c, o, g) = (self.c, self.o, self.groups);
        if g == 0 {
            return Some("groups must be at least 1".into());
        }
        if !c.is_multiple_of(g) || !o.is_multiple_of(g) {
            return Some(format!("groups={g} must divide both the {c} input and the {o} output channels"));
        }
        None
    }
    /// Input channels each group sees: `c / groups`.
    pub fn in_per_group(&self) -> usize {
        self.c / self.groups.max(1)
    }
    /// Output channels of each group: `o / groups`.
    pub fn out_per_group(&self) -> usize {
        self.o / self.groups.max(1)
    }
    /// Whether every group sees a single input channel (and there is more than one group):
    /// the depthwise convolution of MobileNets, with any channel multiplier `o / c`.
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.in_per_group() == 1
    }
    /// The geometry of one group alone: `c/groups` input and `o/groups` output channels.
    pub fn group(&self) -> Conv2dGeometry {
        Conv2dGeometry { c: self.in_per_group(), o: self.out_per_group(), groups: 1, ..*self }
    }
    /// Output height, or `None` when the padded input is smaller than the kernel.
    pub fn out_h(&self) -> Option<usize> {
        (self.h + 2 * self.padding.0).checked_sub(self.kh).map(|v| v / self.stride.0 + 1)
    }
    /// Output width, or `None` when the padded input is narrower than the kernel.
    pub fn out_w(&self) -> Option<usize> {
        (self.w + 2 * self.padding.1).checked_sub(self.kw).map(|v| v / self.stride.1 + 1)
    }
    pub(crate) fn oh(&self) -> usize {
        self.out_h().expect("conv2d geometry was validated by the caller")
    }
    pub(crate) fn ow(&self) -> usize {
        self.out_w().expect("conv2d geometry was validated by the caller")
    }
    /// What one output value reads, the length of a weight row: `(c/groups) * kh * kw` (the
    /// rows of one group's im2col matrix).
    pub fn patch_len(&self) -> usize {
        self.in_per_group() * self.kh * self.kw
    }
    /// Floating-point operations of the forward pass: `2·n·o·oh·ow·(c/groups)·kh·kw`.
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

/// `out[n] = epilogue(weight · im2col(x[n]))`, group by group; images run in parallel. The
/// epilogue (bias, per-channel scale, activation) runs while the image's output is still in
/// cache, which saves separate passes over the whole batch. A 1×1 convolution with stride 1 and
/// no padding multiplies the image itself: its im2col matrix would be a copy of it.
pub fn conv2d_forward(x: &[f32], weight: &[f32], epi: &ConvEpilogue, g: &Conv2dGeometry, out: &mut [f32]) {
    if g.is_depthwise() {
        return depthwise::forward(x, weight, epi, g, out);
    }
    let sub = g.group();
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let (img, group_in, group_w) = (g.c * g.h * g.w, sub.c * g.h * g.w, sub.o * patch);
    let pointwise = g.kh == 1 && g.kw == 1 && g.stride == (1, 1) && g.padding == (0, 0);
    let parallel = worth_splitting(g.n * g.o * plane * patch, PAR_MIN_MACS);
    for_each_piece(out, g.o * plane, parallel, &|n, out_n| {
        // One pass with groups = 1: the plain convolution.
        for (gi, out_g) in out_n.chunks_mut(sub.o * plane).enumerate() {
            let x_g = &x[n * img + gi * group_in..][..group_in];
            let w_g = &weight[gi * group_w..][..group_w];
            let spec = MatmulSpec::new(sub.o, plane, patch);
            if pointwise {
                matmul(w_g, x_g, out_g, spec);
            } else {
                with_scratch(&COLS, patch * plane, |cols| {
                    im2col(x_g, &sub, cols);
                    matmul(w_g, cols, out_g, spec);
                });
            }
        }
        if !epi.is_identity() {
            for (oc, row) in out_n.chunks_mut(plane).enumerate() {
                epi.apply_in_place(oc, row);
            }
        }
    });
}

/// `dx[n] = col2im(weightᵀ · dy[n])`, group by group.
pub fn conv2d_backward_input(dy: &[f32], weight: &[f32], g: &Conv2dGeometry, dx: &mut [f32]) {
    if g.is_depthwise() {
        return depthwise::backward_input(dy, weight, g, dx);
    }
    let sub = g.group();
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let (img, group_w) = (g.c * g.h * g.w, sub.o * patch);
    let parallel = worth_splitting(g.n * g.o * plane * patch, PAR_MIN_MACS);
    for_each_piece(dx, img, parallel, &|n, dx_n| {
        with_scratch(&COLS, patch * plane, |cols| {
            for (gi, dx_g) in dx_n.chunks_mut(sub.c * g.h * g.w).enumerate() {
                let spec = MatmulSpec { trans_a: true, ..MatmulSpec::new(patch, plane, sub.o) };
                let dy_g = &dy[(n * g.o + gi * sub.o) * plane..][..sub.o * plane];
                matmul(&weight[gi * group_w..][..group_w], dy_g, cols, spec);
                col2im(cols, &sub, dx_g);
            }
        });
    });
}

/// Images per task of the weight gradient. Fixed (not derived from the thread count) so the
/// summation order, and with it the result, is the same on every machine.
const IMAGES_PER_GROUP: usize = 8;

/// `dw = Σₙ dy[n] · im2col(x[n])ᵀ` (per channel group), and `db = Σ dy` over images and
/// positions when asked.
///
/// Groups of [`IMAGES_PER_GROUP`] images run in parallel: a group lays its images' im2col
/// matrices side by side and its `dy` planes likewise, so its share of `dw` is one product of
/// depth `8·oh·ow` per channel group rather than eight shallow ones. The image groups' partial
/// sums are then added in group order, which keeps the result deterministic.
pub fn conv2d_backward_weight(dy: &[f32], x: &[f32], g: &Conv2dGeometry, dw: &mut [f32], mut db: Option<&mut [f32]>) {
    if g.is_depthwise() {
        return depthwise::backward_weight(dy, x, g, dw, db);
    }
    let sub = g.group();
    let (plane, patch) = (g.oh() * g.ow(), g.patch_len());
    let (img, group_in) = (g.c * g.h * g.w, sub.c * g.h * g.w);
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
                    // One pass with groups = 1: the plain convolution.
                    for (gi, pw_g) in pw.chunks_mut(sub.o * patch).enumerate() {
                        for (i, n) in images.clone().enumerate() {
                            let x_g = &x[n * img + gi * group_in..][..group_in];
                            im2col_strided(x_g, &sub, &mut cols[i * plane..], depth);
                        }
                        let spec = MatmulSpec { trans_b: true, ..MatmulSpec::new(sub.o, patch, depth) };
                        matmul(&dy_rows[gi * sub.o * depth..][..sub.o * depth], cols, pw_g, spec);
                    }
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
        let g =
            Conv2dGeometry { n: 1, c: 1, h: 3, w: 3, o: 1, kh: 2, kw: 2, stride: (1, 1), padding: (0, 0), groups: 1 };
        let mut out = vec![0.0; 4];
        conv2d_forward(&x, &[1.0; 4], &ConvEpilogue::default(), &g, &mut out);
        assert_eq!(out, [12.0, 16.0, 24.0, 28.0]);
        // Padding 1, stride 2: corners see the padded border.
        let g2 = Conv2dGeometry { padding: (1, 1), stride: (2, 2), ..g };
        let mut out2 = vec![0.0; 4];
        conv2d_forward(&x, &[1.0; 4], &ConvEpilogue::default(), &g2, &mut out2);
        assert_eq!(out2, [1.0, 5.0, 11.0, 28.0]);
    }
}
