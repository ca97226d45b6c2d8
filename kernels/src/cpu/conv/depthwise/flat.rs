//! The flat layout both directions of the depthwise kernel work in.
//!
//! An input plane is copied once into `s_h·s_w` phase planes (`phase[rp][cp][i][j] =
//! x[(i − top)·s_h + rp][(j − left)·s_w + cp]`, zero outside the image), all `pw` columns wide.
//! There every tap `(ki, kj)` reads one phase plane at a constant flat offset from the output
//! position `oy·pw + ox`, so a convolution of one plane is a sum of `kh·kw` shifted runs of flat
//! arrays, whole vectors across row ends. An output (or output-gradient) plane in this layout
//! is `pw` wide; its `pw − ow` columns past each row are not outputs (zero when they are read).

use super::super::Conv2dGeometry;

/// Outputs summed in registers at a time: four AVX-512 vectors (eight AVX2 ones).
pub(super) const BLOCK: usize = 64;
/// The block of a plane's last outputs, so that a 3×3 plane does not compute 64.
pub(super) const TAIL_BLOCK: usize = 16;
/// Floats per task at least (whole planes): small planes are grouped so that each task takes
/// its scratch buffers, and zeroes their padding, once for many of them.
pub(super) const TASK_FLOATS: usize = 4096;

/// Where one tap reads: its phase plane and the flat offset from the output position.
#[derive(Clone, Copy)]
pub(super) struct Tap {
    pub phase: usize,
    pub offset: usize,
}

/// The layout shared by every plane of one call.
pub(super) struct FlatPlan {
    pub g: Conv2dGeometry,
    pub oh: usize,
    pub ow: usize,
    /// Phase-plane rows and columns before the image's first (covering the padding).
    pub top: usize,
    pub left: usize,
    /// Rows and columns of a phase plane (and columns of the wide output plane).
    pub ph: usize,
    pub pw: usize,
    /// Floats per phase plane: its rows plus the slack the last block's reads run into.
    pub phase_len: usize,
    /// Outputs computed per plane: `oh·pw` rounded up to whole tail blocks.
    pub wide_len: usize,
    /// Positions of a phase plane the input gradient computes: its rows, in whole tail blocks.
    pub grad_len: usize,
    /// The largest tap offset.
    pub max_offset: usize,
    /// Per tap, in `(ki, kj)` order.
    pub taps: Vec<Tap>,
}

impl FlatPlan {
    pub fn new(g: &Conv2dGeometry) -> FlatPlan {
        let (oh, ow) = (g.oh(), g.ow());
        let ((sh, sw), (p_h, p_w)) = (g.stride, g.padding);
        let (top, left) = (p_h.div_ceil(sh), p_w.div_ceil(sw));
        // Tap (ki, kj) reads input row oy·sh + ki − p_h = (oy + a / sh − top)·sh + a % sh with
        // a = ki + top·sh − p_h ≥ 0; likewise for columns.
        let row = |ki: usize| ki + top * sh - p_h;
        let col = |kj: usize| kj + left * sw - p_w;
        let (max_ro, max_co) = ((row(g.kh - 1)) / sh, (col(g.kw - 1)) / sw);
        let (ph, pw) = (oh + max_ro, ow + max_co);
        let wide_len = (oh * pw).div_ceil(TAIL_BLOCK) * TAIL_BLOCK;
        let taps: Vec<Tap> = (0..g.kh)
            .flat_map(|ki| (0..g.kw).map(move |kj| (row(ki), col(kj))))
            .map(|(a, b)| Tap { phase: (a % sh) * sw + b % sw, offset: (a / sh) * pw + b / sw })
            .collect();
        let max_offset = taps.iter().map(|t| t.offset).max().unwrap_or(0);
        let grad_len = (ph * pw).div_ceil(TAIL_BLOCK) * TAIL_BLOCK;
        let phase_len = grad_len.max(wide_len + max_offset);
        FlatPlan { g: *g, oh, ow, top, left, ph, pw, phase_len, wide_len, grad_len, max_offset, taps }
    }

    pub fn phases(&self) -> usize {
        self.g.stride.0 * self.g.stride.1
    }

    /// Writes the image values of the input plane `src` into its phase planes in `buf`
    /// (`phases · phase_len`). The rest of `buf`, the padding, is the same for every plane and
    /// must have been zeroed once.
    pub fn split(&self, src: &[f32], buf: &mut [f32]) {
        if let Some(rows) = self.stride_one_rows() {
            // One phase: the plane itself, shifted by the padding (most depthwise layers).
            for (dst, src) in buf[rows].chunks_exact_mut(self.pw).zip(src.chunks_exact(self.g.w)) {
                dst[self.left..].iter_mut().zip(src).for_each(|(d, &v)| *d = v);
            }
            return;
        }
        self.for_each_row(buf, |iy, phase_rows| {
            let row = &src[iy * self.g.w..][..self.g.w];
            match phase_rows {
                PhaseRows::One(dst) => dst.copy_from_slice(&row[..dst.len()]),
                PhaseRows::Two(even, odd) => {
                    // One pass over the row, even columns to one phase and odd to the other.
                    let pairs = even.len().min(odd.len());
                    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(row.chunks_exact(2)).take(pairs) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                    even.iter_mut().enumerate().skip(pairs).for_each(|(k, e)| *e = row[2 * k]);
                    odd.iter_mut().enumerate().skip(pairs).for_each(|(k, o)| *o = row[2 * k + 1]);
                }
                PhaseRows::Strided(runs) => {
                    for (cp, dst) in runs.into_iter().enumerate() {
                        dst.iter_mut().zip(row[cp..].iter().step_by(self.g.stride.1)).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        });
    }

    /// The inverse of [`FlatPlan::split`]: writes each image position's value from the phase
    /// planes `buf` into `plane` (`h × w`). Positions no phase plane holds (read by no tap) get 0.
    pub fn unsplit(&self, buf: &mut [f32], plane: &mut [f32]) {
        if let Some(rows) = self.stride_one_rows() {
            for (src, dst) in buf[rows].chunks_exact(self.pw).zip(plane.chunks_exact_mut(self.g.w)) {
                dst.iter_mut().zip(&src[self.left..]).for_each(|(d, &v)| *d = v);
            }
            return;
        }
        plane.fill(0.0);
        self.for_each_row(buf, |iy, phase_rows| {
            let row = &mut plane[iy * self.g.w..][..self.g.w];
            match phase_rows {
                PhaseRows::One(src) => row[..src.len()].copy_from_slice(src),
                PhaseRows::Two(even, odd) => {
                    let pairs = even.len().min(odd.len());
                    for ((&e, &o), pair) in even.iter().zip(odd.iter()).zip(row.chunks_exact_mut(2)).take(pairs) {
                        pair[0] = e;
                        pair[1] = o;
                    }
                    even.iter().enumerate().skip(pairs).for_each(|(k, &e)| row[2 * k] = e);
                    odd.iter().enumerate().skip(pairs).for_each(|(k, &o)| row[2 * k + 1] = o);
                }
                PhaseRows::Strided(runs) => {
                    for (cp, src) in runs.into_iter().enumerate() {
                        row[cp..].iter_mut().step_by(self.g.stride.1).zip(src.iter()).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        });
    }

    /// For stride 1 when every image column has a place in the phase plane (`left + w ≤ pw`):
    /// the range of the phase plane holding the image's rows.
    fn stride_one_rows(&self) -> Option<std::ops::Range<usize>> {
        let g = &self.g;
        let fits = g.stride == (1, 1) && self.left + g.w <= self.pw && self.top + g.h <= self.ph;
        fits.then(|| self.top * self.pw..(self.top + g.h) * self.pw)
    }

    /// Calls `f(iy, runs)` for every image row `iy` held by the phase planes in `buf`, with the
    /// runs of its column phases that hold image columns (`left..c1` of each phase row).
    fn for_each_row(&self, buf: &mut [f32], mut f: impl FnMut(usize, PhaseRows<'_>)) {
        let g = &self.g;
        let (sh, sw) = g.stride;
        for (rp, planes) in buf.chunks_exact_mut(sw * self.phase_len).enumerate() {
            for i in 0..self.ph {
                let Some(iy) = (i * sh + rp).checked_sub(self.top * sh).filter(|&iy| iy < g.h) else { continue };
                let mut phases = planes.chunks_exact_mut(self.phase_len).enumerate();
                let rows = match sw {
                    1 => PhaseRows::One(self.image_run(phases.next().expect("one phase"), i)),
                    2 => {
                        let even = self.image_run(phases.next().expect("two phases"), i);
                        PhaseRows::Two(even, self.image_run(phases.next().expect("two phases"), i))
                    }
                    _ => PhaseRows::Strided(phases.map(|phase| self.image_run(phase, i)).collect()),
                };
                f(iy, rows);
            }
        }
    }

    /// Row `i` of column phase `cp`'s plane `phase`, its columns that hold image columns:
    /// `left..c1`, image columns `(c − left)·sw + cp < w`.
    fn image_run<'a>(&self, (cp, phase): (usize, &'a mut [f32]), i: usize) -> &'a mut [f32] {
        let (w, sw) = (self.g.w, self.g.stride.1);
        let c1 = if w > cp { (self.left + (w - cp).div_ceil(sw)).min(self.pw) } else { 0 };
        &mut phase[i * self.pw..][self.left..c1.max(self.left)]
    }

    /// Writes the output-gradient plane `dy` (`oh × ow`) into `wide` (`wide_len` floats) in the
    /// wide layout. The columns past each row and the floats after the last, zero, are the same
    /// for every plane and must have been zeroed once.
    pub fn widen(&self, dy: &[f32], wide: &mut [f32]) {
        for (dst, src) in wide.chunks_exact_mut(self.pw).zip(dy.chunks_exact(self.ow)) {
            dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
        }
    }
}

/// One image row's runs in its column phases' rows: one phase (stride 1), two (stride 2, the
/// even and the odd columns), or any number.
enum PhaseRows<'a> {
    One(&'a mut [f32]),
    Two(&'a mut [f32], &'a mut [f32]),
    Strided(Vec<&'a mut [f32]>),
}
