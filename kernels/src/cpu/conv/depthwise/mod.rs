//! Depthwise convolution (one input channel per group, `m = o / c` outputs per channel), computed
//! directly: every output plane is a sum of `kh·kw` shifted, scaled input rows. im2col + GEMM per
//! channel would unfold each plane `kh·kw` times to multiply it by a `m × kh·kw` matrix, a GEMM
//! far too small to pay for its packing.
//!
//! The forward has its own layout ([`forward`]). In the backward each tap `(ki, kj)` adds `w · x[iy][ox·s + kj − p]` along the output row `ox`. For stride 1 that
//! reads consecutive input columns; for a larger stride `s` the input plane is first split by
//! column phase (`phased[iy][r][j] = x[iy][j·s + r]`), after which every tap again reads (or, in
//! the input gradient, writes) one contiguous run, so all three loops are plain `a += w·b` over
//! slices that vectorise. They are compiled for the widest vector unit at run time; Rust does not
//! contract `a * b + c` into FMA, so every width gives the same bits.
//!
//! Forward and input gradient run one plane per task (outputs of distinct planes are disjoint);
//! the weight gradient runs one output channel per task, summing its images in order, so the
//! result does not depend on the thread count.

mod forward;

pub(super) use forward::forward;

use super::unfold::{input_row, valid_columns};
use super::{with_scratch, Conv2dGeometry};
use crate::cpu::gemm::PAR_MIN_MACS;
use crate::cpu::reduce::lanewise_sum;
#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::{level, Level};
use crate::cpu::{for_each_piece, worth_splitting};
use std::cell::Cell;

thread_local! {
    /// An input (or input-gradient) plane split by column phase, for strides above 1.
    static PHASED: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The weight gradient's per-tap running products of one output channel.
    static ACC: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Where one kernel column reads: output columns `lo..hi` land inside the image, and read phase
/// `phase` of the phased input row from column `start` on (`start + ox − lo` for output `ox`).
#[derive(Clone, Copy)]
struct TapColumn {
    lo: usize,
    hi: usize,
    phase: usize,
    start: usize,
}

/// The per-call constants every plane shares.
struct Plan {
    g: Conv2dGeometry,
    oh: usize,
    ow: usize,
    /// Columns of one phase of a phased row: `⌈w / s⌉` (`w` for stride 1).
    wp: usize,
    /// Per kernel column `kj`.
    cols: Vec<TapColumn>,
}

impl Plan {
    fn new(g: &Conv2dGeometry) -> Plan {
        let (oh, ow, s, p) = (g.oh(), g.ow(), g.stride.1, g.padding.1);
        let cols = (0..g.kw)
            .map(|kj| {
                let (lo, hi) = valid_columns(g, kj, ow);
                if lo >= hi {
                    return TapColumn { lo: 0, hi: 0, phase: 0, start: 0 };
                }
                // The first column read, `lo·s + kj − p`, is inside the image, so not negative.
                let first = lo * s + kj - p;
                TapColumn { lo, hi, phase: first % s, start: first / s }
            })
            .collect();
        Plan { g: *g, oh, ow, wp: g.w.div_ceil(s), cols }
    }

    fn taps(&self) -> usize {
        self.g.kh * self.g.kw
    }

    fn stride(&self) -> usize {
        self.g.stride.1
    }

    /// Floats of a phased plane.
    fn phased_len(&self) -> usize {
        self.g.h * self.stride() * self.wp
    }

    /// Offset of input row `iy`, phase `r`, in a phased plane (a plain plane for stride 1).
    fn row(&self, iy: usize, r: usize) -> usize {
        (iy * self.stride() + r) * self.wp
    }

    /// `plane` itself for stride 1; otherwise `plane` split by column phase into `buf`.
    fn phased<'a>(&self, plane: &'a [f32], buf: &'a mut [f32]) -> &'a [f32] {
        let (s, w) = (self.stride(), self.g.w);
        if s == 1 {
            return plane;
        }
        for (iy, src) in plane.chunks_exact(w).enumerate() {
            for r in 0..s {
                let dst = &mut buf[self.row(iy, r)..][..self.wp];
                // The last column of a phase may lie past the row; it is never read.
                dst.fill(0.0);
                dst.iter_mut().zip(src.iter().skip(r).step_by(s)).for_each(|(d, &v)| *d = v);
            }
        }
        buf
    }

    /// Writes the phased plane `phased` back into `plane` (the inverse of [`Plan::phased`]).
    fn unphase(&self, phased: &[f32], plane: &mut [f32]) {
        let (s, w) = (self.stride(), self.g.w);
        for (iy, dst) in plane.chunks_exact_mut(w).enumerate() {
            for r in 0..s {
                let src = &phased[self.row(iy, r)..][..self.wp];
                dst.iter_mut().skip(r).step_by(s).zip(src).for_each(|(d, &v)| *d = v);
            }
        }
    }
}

/// Defines `$name`, which runs the `#[inline(always)]` function `$body` compiled for the widest
/// vector unit this CPU has.
macro_rules! widest {
    ($(#[$doc:meta])* fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                match level() {
                    // SAFETY: `simd::level` never exceeds what this CPU reported.
                    Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Level::Avx2 => return unsafe { avx2($($arg),*) },
                    Level::Baseline => {}
                }
            }
            $body($($arg),*)
        }
    };
}

/// `dx[n, ic] = Σ over the channel's `m` outputs and the taps of `w · dy` put back where the tap
/// read, one input plane per task.
pub(super) fn backward_input(dy: &[f32], weight: &[f32], g: &Conv2dGeometry, dx: &mut [f32]) {
    let plan = Plan::new(g);
    let (plane, taps, m) = (plan.oh * plan.ow, plan.taps(), g.out_per_group());
    let parallel = worth_splitting(g.n * g.o * plane * taps, PAR_MIN_MACS);
    for_each_piece(dx, g.h * g.w, parallel, &|i, dx_p| {
        let (n, ic) = (i / g.c, i % g.c);
        // The channel's outputs are `m` consecutive channels: their planes and kernels are
        // contiguous.
        let dy_c = &dy[(n * g.o + ic * m) * plane..][..m * plane];
        let wk = &weight[ic * m * taps..][..m * taps];
        if plan.stride() == 1 {
            dx_p.fill(0.0);
            return input_plane(&plan, dy_c, wk, dx_p);
        }
        with_scratch(&PHASED, plan.phased_len(), |buf| {
            buf.fill(0.0);
            input_plane(&plan, dy_c, wk, buf);
            plan.unphase(buf, dx_p);
        });
    });
}

widest! {
    /// Adds the input gradient of one channel into the zeroed phased plane `dxp`.
    fn input_plane = input_plane_body(plan: &Plan, dy: &[f32], wk: &[f32], dxp: &mut [f32])
}

#[inline(always)]
fn input_plane_body(plan: &Plan, dy: &[f32], wk: &[f32], dxp: &mut [f32]) {
    let (kw, taps) = (plan.g.kw, plan.taps());
    for (dy_o, wk_o) in dy.chunks_exact(plan.oh * plan.ow).zip(wk.chunks_exact(taps)) {
        for (oy, row) in dy_o.chunks_exact(plan.ow).enumerate() {
            for ki in 0..plan.g.kh {
                let Some(iy) = input_row(&plan.g, oy, ki) else { continue };
                for (c, &wv) in plan.cols.iter().zip(&wk_o[ki * kw..][..kw]) {
                    let dst = &mut dxp[plan.row(iy, c.phase) + c.start..][..c.hi - c.lo];
                    dst.iter_mut().zip(&row[c.lo..c.hi]).for_each(|(d, &v)| *d += wv * v);
                }
            }
        }
    }
}

/// `dw[oc, tap] = Σ_n Σ_rows dy[n, oc] · shifted x[n, oc / m]`, and `db[oc] = Σ dy[n, oc]` when
/// asked, one output channel per task.
pub(super) fn backward_weight(dy: &[f32], x: &[f32], g: &Conv2dGeometry, dw: &mut [f32], db: Option<&mut [f32]>) {
    let plan = Plan::new(g);
    let (plane, taps) = (plan.oh * plan.ow, plan.taps());
    // Per channel: its taps' gradients, then its bias gradient.
    let share = taps + 1;
    let parallel = worth_splitting(g.n * g.o * plane * taps, PAR_MIN_MACS);
    with_scratch(&super::PARTIALS, g.o * share, |partials| {
        for_each_piece(partials, share, parallel, &|oc, part| channel_weight(&plan, dy, x, oc, part));
        for (d, p) in dw.chunks_exact_mut(taps).zip(partials.chunks_exact(share)) {
            d.copy_from_slice(&p[..taps]);
        }
        if let Some(db) = db {
            db.iter_mut().zip(partials.chunks_exact(share)).for_each(|(d, p)| *d = p[taps]);
        }
    });
}

/// One output channel's weight and bias gradients into `part` (`[taps + 1]`). Each tap's products
/// are summed per output column over every image and row first (a vectorisable `acc += dy·x`),
/// then across the columns.
fn channel_weight(plan: &Plan, dy: &[f32], x: &[f32], oc: usize, part: &mut [f32]) {
    let g = &plan.g;
    let (plane, hw, taps, ow) = (plan.oh * plan.ow, g.h * g.w, plan.taps(), plan.ow);
    let ic = oc / g.out_per_group();
    with_scratch(&ACC, (taps + 1) * ow, |acc| {
        acc.fill(0.0);
        for n in 0..g.n {
            let dy_p = &dy[(n * g.o + oc) * plane..][..plane];
            let src = &x[(n * g.c + ic) * hw..][..hw];
            with_scratch(&PHASED, plan.phased_len(), |buf| weight_plane(plan, dy_p, plan.phased(src, buf), acc));
        }
        for (p, a) in part.iter_mut().zip(acc.chunks_exact(ow)) {
            *p = lanewise_sum(a);
        }
    });
}

widest! {
    /// Adds one image's products into `acc` (`[taps + 1, ow]`, the last row summing `dy`).
    fn weight_plane = weight_plane_body(plan: &Plan, dy: &[f32], xp: &[f32], acc: &mut [f32])
}

#[inline(always)]
fn weight_plane_body(plan: &Plan, dy: &[f32], xp: &[f32], acc: &mut [f32]) {
    let (kw, ow) = (plan.g.kw, plan.ow);
    let (acc_w, acc_b) = acc.split_at_mut(plan.taps() * ow);
    for (oy, row) in dy.chunks_exact(ow).enumerate() {
        acc_b.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        for ki in 0..plan.g.kh {
            let Some(iy) = input_row(&plan.g, oy, ki) else { continue };
            for (kj, c) in plan.cols.iter().enumerate() {
                let a = &mut acc_w[(ki * kw + kj) * ow + c.lo..][..c.hi - c.lo];
                let src = &xp[plan.row(iy, c.phase) + c.start..][..c.hi - c.lo];
                a.iter_mut().zip(&row[c.lo..c.hi]).zip(src).for_each(|((a, &d), &v)| *a += d * v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Conv2dGeometry, ConvActivation, ConvEpilogue,
    };

    /// The convolution by its definition, for any groups: `[n, o, oh, ow]`.
    fn naive_forward(x: &[f32], w: &[f32], g: &Conv2dGeometry) -> Vec<f32> {
        let (oh, ow, cg, og) = (g.oh(), g.ow(), g.in_per_group(), g.out_per_group());
        let mut out = vec![0.0; g.n * g.o * oh * ow];
        for n in 0..g.n {
            for oc in 0..g.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0f64;
                        for cl in 0..cg {
                            let ic = oc / og * cg + cl;
                            for ki in 0..g.kh {
                                for kj in 0..g.kw {
                                    let iy = (oy * g.stride.0 + ki) as isize - g.padding.0 as isize;
                                    let ix = (ox * g.stride.1 + kj) as isize - g.padding.1 as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                        continue;
                                    }
                                    let xv = x[((n * g.c + ic) * g.h + iy as usize) * g.w + ix as usize];
                                    let wv = w[((oc * cg + cl) * g.kh + ki) * g.kw + kj];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        out[((n * g.o + oc) * oh + oy) * ow + ox] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, seed: f32) -> Vec<f32> {
        (0..len).map(|i| ((i as f32 + seed) * 0.618).sin()).collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
    }

    fn geometries() -> Vec<Conv2dGeometry> {
        let g = |n, c, h, w, o, k: (usize, usize), stride, padding, groups| Conv2dGeometry {
            n,
            c,
            h,
            w,
            o,
            kh: k.0,
            kw: k.1,
            stride,
            padding,
            groups,
        };
        vec![
            g(2, 3, 7, 9, 3, (3, 3), (1, 1), (1, 1), 3),
            g(2, 3, 7, 9, 6, (3, 3), (2, 2), (1, 1), 3),
            g(1, 4, 8, 8, 4, (3, 3), (2, 2), (1, 1), 4),
            g(3, 2, 5, 11, 4, (3, 2), (2, 3), (0, 2), 2),
            g(1, 5, 6, 4, 10, (5, 5), (1, 2), (2, 2), 5),
            g(2, 4, 9, 7, 6, (3, 3), (2, 1), (1, 1), 2),
            g(1, 6, 5, 5, 9, (1, 1), (1, 1), (0, 0), 3),
            g(1, 1, 4, 4, 2, (3, 3), (1, 1), (1, 1), 1),
            g(2, 5, 3, 7, 4, (1, 1), (1, 1), (0, 0), 1),
            g(1, 3, 1, 1, 6, (1, 1), (1, 1), (0, 0), 3),
            g(2, 3, 6, 6, 3, (3, 3), (3, 3), (1, 1), 3),
            g(1, 2, 1, 5, 2, (3, 3), (1, 1), (1, 1), 2),
            g(1, 2, 3, 3, 2, (3, 3), (2, 2), (2, 2), 2),
            g(2, 32, 17, 17, 32, (3, 3), (2, 2), (1, 1), 32),
            // Above `PAR_MIN_MACS`: planes and channels split across threads.
            g(2, 64, 32, 32, 64, (3, 3), (1, 1), (1, 1), 64),
            g(4, 64, 32, 32, 128, (3, 3), (2, 2), (1, 1), 64),
        ]
    }

    #[test]
    fn an_image_gives_the_same_bits_alone_and_in_a_batch() {
        // The transfer feature cache relies on it; a depthwise convolution groups planes per task.
        let g = |c, h, o, k: usize, groups| Conv2dGeometry {
            n: 6,
            c,
            h,
            w: h,
            o,
            kh: k,
            kw: k,
            stride: (1, 1),
            padding: (k / 2, k / 2),
            groups,
        };
        for g in [g(7, 3, 5, 1, 1), g(9, 6, 9, 3, 9), g(16, 30, 16, 3, 16)] {
            let (x, w) = (values(g.n * g.c * g.h * g.w, 0.25), values(g.o * g.patch_len(), 0.75));
            let (scale, bias) = (values(g.o, 1.25), values(g.o, 1.75));
            let epi = ConvEpilogue { bias: Some(&bias), scale: Some(&scale), act: ConvActivation::Relu6 };
            let out_len = g.o * g.oh() * g.ow();
            let mut batch = vec![f32::NAN; g.n * out_len];
            conv2d_forward(&x, &w, &epi, &g, &mut batch);
            let one = Conv2dGeometry { n: 1, ..g };
            for (image, want) in x.chunks_exact(g.c * g.h * g.w).zip(batch.chunks_exact(out_len)) {
                let mut alone = vec![f32::NAN; out_len];
                conv2d_forward(image, &w, &epi, &one, &mut alone);
                assert_eq!(alone, want, "{g:?}");
            }
        }
    }

    #[test]
    fn grouped_and_depthwise_match_the_definition_and_their_adjoints() {
        for g in geometries() {
            let (oh, ow) = (g.oh(), g.ow());
            let x = values(g.n * g.c * g.h * g.w, 0.5);
            let w = values(g.o * g.patch_len(), 1.5);
            let dy = values(g.n * g.o * oh * ow, 2.5);
            let bias = values(g.o, 3.5);
            let mut out = vec![f32::NAN; dy.len()];
            conv2d_forward(&x, &w, &ConvEpilogue::bias(Some(&bias)), &g, &mut out);
            let want = naive_forward(&x, &w, &g);
            for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
                let want = want + bias[i / (oh * ow) % g.o];
                assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{g:?} [{i}]: {got} vs {want}");
            }
            // The gradients are the adjoints: <dy, conv(x, w)> = <dx, x> = <dw, w>.
            let plain = naive_forward(&x, &w, &g);
            let lhs = dot(&dy, &plain);
            let mut dx = vec![f32::NAN; x.len()];
            conv2d_backward_input(&dy, &w, &g, &mut dx);
            let (mut dw, mut db) = (vec![f32::NAN; w.len()], vec![f32::NAN; g.o]);
            conv2d_backward_weight(&dy, &x, &g, &mut dw, Some(&mut db));
            let tol = 1e-4 * (1.0 + lhs.abs());
            assert!((dot(&dx, &x) - lhs).abs() <= tol, "{g:?} dx: {} vs {lhs}", dot(&dx, &x));
            assert!((dot(&dw, &w) - lhs).abs() <= tol, "{g:?} dw: {} vs {lhs}", dot(&dw, &w));
            for (oc, &got) in db.iter().enumerate() {
                let want: f32 = (0..g.n).flat_map(|n| &dy[(n * g.o + oc) * oh * ow..][..oh * ow]).sum();
                assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "{g:?} db[{oc}]: {got} vs {want}");
            }
            // The epilogue: act(conv · scale + bias) per output channel, on either path.
            let scale = values(g.o, 4.5);
            for act in [ConvActivation::Identity, ConvActivation::Relu, ConvActivation::Relu6] {
                let epi = ConvEpilogue { bias: Some(&bias), scale: Some(&scale), act };
                let mut fused = vec![f32::NAN; dy.len()];
                conv2d_forward(&x, &w, &epi, &g, &mut fused);
                for (i, (&got, &plain)) in fused.iter().zip(&plain).enumerate() {
                    let oc = i / (oh * ow) % g.o;
                    let z = plain * scale[oc] + bias[oc];
                    let want = match act {
                        ConvActivation::Identity => z,
                        ConvActivation::Relu => z.max(0.0),
                        ConvActivation::Relu6 => z.clamp(0.0, 6.0),
                    };
                    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{g:?} {act:?} [{i}]: {got} vs {want}");
                }
            }
            let mut dw_only = vec![f32::NAN; w.len()];
            conv2d_backward_weight(&dy, &x, &g, &mut dw_only, None);
            assert_eq!(dw_only, dw, "{g:?}: the weight gradient does not depend on asking for db");
        }
    }
}
