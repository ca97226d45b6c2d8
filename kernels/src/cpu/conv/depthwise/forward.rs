//! The depthwise forward over a flat, zero-padded copy of each input plane.
//!
//! The input plane is copied once into `s_h·s_w` phase planes (`phase[rp][cp][i][j] =
//! x[(i − top)·s_h + rp][(j − left)·s_w + cp]`, zero outside the image), all `pw` columns wide.
//! In that layout every tap `(ki, kj)` reads one phase plane at a constant flat offset from the
//! output position `oy·pw + ox`, so an output plane `pw` columns wide is a sum of `kh·kw`
//! shifted runs of one flat array: whole vectors across row ends, all taps summed in registers
//! and stored once. The `pw − ow` columns past each output row are never valid outputs and are
//! dropped when the plane is copied out through the epilogue. Computing along output rows
//! instead (one tap at a time, reloading and storing the row each time) leaves most lanes idle
//! on MobileNet's 12-, 6- and 3-wide planes and spends its time on the row's loads and stores.

use super::super::{with_scratch, Conv2dGeometry, ConvEpilogue};
use crate::cpu::gemm::PAR_MIN_MACS;
#[cfg(target_arch = "x86_64")]
use crate::cpu::simd::{level, Level};
use crate::cpu::{for_each_piece, worth_splitting};
use std::cell::Cell;

/// Outputs summed in registers at a time: four AVX-512 vectors (eight AVX2 ones).
const BLOCK: usize = 64;
/// The block of a plane's last outputs, so that a 3×3 plane does not compute 64.
const TAIL_BLOCK: usize = 16;

thread_local! {
    /// One input plane's phase planes.
    static PHASES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// One output plane, `pw` columns wide.
    static WIDE_OUT: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Where one tap reads: its phase plane and the flat offset from the output position.
#[derive(Clone, Copy)]
struct Tap {
    phase: usize,
    offset: usize,
}

/// The layout shared by every plane of one call.
struct FlatPlan {
    g: Conv2dGeometry,
    oh: usize,
    ow: usize,
    /// Phase-plane rows and columns before the image's first (covering the padding).
    top: usize,
    left: usize,
    /// Rows and columns of a phase plane (and columns of the wide output plane).
    ph: usize,
    pw: usize,
    /// Floats per phase plane: its rows plus the slack the last block's reads run into.
    phase_len: usize,
    /// Outputs computed per plane: `oh·pw` rounded up to whole tail blocks.
    wide_len: usize,
    /// Per tap, in `(ki, kj)` order.
    taps: Vec<Tap>,
}

impl FlatPlan {
    fn new(g: &Conv2dGeometry) -> FlatPlan {
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
        let phase_len = (ph * pw).max(wide_len + max_offset);
        FlatPlan { g: *g, oh, ow, top, left, ph, pw, phase_len, wide_len, taps }
    }

    fn phases(&self) -> usize {
        self.g.stride.0 * self.g.stride.1
    }

    /// Writes the image values of the input plane `src` into its phase planes in `buf`
    /// (`phases · phase_len`). The rest of `buf`, the padding, is the same for every plane and
    /// must have been zeroed once.
    fn split(&self, src: &[f32], buf: &mut [f32]) {
        let (g, pw) = (&self.g, self.pw);
        let (sh, sw) = g.stride;
        for (p, phase) in buf.chunks_exact_mut(self.phase_len).enumerate() {
            let (rp, cp) = (p / sw, p % sw);
            // Phase columns left..c1 hold image columns (c − left)·sw + cp < w.
            let c1 = if g.w > cp { (self.left + (g.w - cp).div_ceil(sw)).min(pw) } else { 0 };
            if c1 <= self.left {
                continue;
            }
            for (i, dst) in phase[..self.ph * pw].chunks_exact_mut(pw).enumerate() {
                let Some(iy) = (i * sh + rp).checked_sub(self.top * sh).filter(|&iy| iy < g.h) else { continue };
                let (run, src_row) = (&mut dst[self.left..c1], &src[iy * g.w + cp..]);
                if sw == 1 {
                    run.iter_mut().zip(src_row).for_each(|(d, &v)| *d = v);
                } else {
                    run.iter_mut().zip(src_row.iter().step_by(sw)).for_each(|(d, &v)| *d = v);
                }
            }
        }
    }
}

/// Output floats per task at least (whole planes): small planes are grouped so that each
/// task takes its scratch buffers once for many of them.
const TASK_FLOATS: usize = 4096;

/// `out[n, oc] = epilogue(Σ_taps w[oc, tap] · shifted x[n, oc / m])`, a group of planes per task.
pub(in super::super) fn forward(x: &[f32], weight: &[f32], epi: &ConvEpilogue, g: &Conv2dGeometry, out: &mut [f32]) {
    let plan = FlatPlan::new(g);
    let (plane, taps, hw, m) = (plan.oh * plan.ow, plan.taps.len(), g.h * g.w, g.out_per_group());
    let per_task = TASK_FLOATS.div_ceil(plane).min(g.n * g.o);
    let parallel = worth_splitting(g.n * g.o * plane * taps, PAR_MIN_MACS);
    for_each_piece(out, plane * per_task, parallel, &|t, out_t| {
        with_scratch(&PHASES, plan.phases() * plan.phase_len, |phases| {
            phases.fill(0.0);
            with_scratch(&WIDE_OUT, plan.wide_len, |wide| {
                for (j, out_p) in out_t.chunks_exact_mut(plane).enumerate() {
                    let i = t * per_task + j;
                    let (n, oc) = (i / g.o, i % g.o);
                    plan.split(&x[(n * g.c + oc / m) * hw..][..hw], phases);
                    wide_plane(&plan, phases, &weight[oc * taps..][..taps], wide);
                    epi.apply_rows(oc, wide, plan.pw, out_p, plan.ow);
                }
            });
        });
    });
}

/// Defines `wide_plane` for the widest vector unit this CPU has.
fn wide_plane(plan: &FlatPlan, phases: &[f32], wk: &[f32], wide: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(plan: &FlatPlan, phases: &[f32], wk: &[f32], wide: &mut [f32]) {
            wide_plane_body(plan, phases, wk, wide)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(plan: &FlatPlan, phases: &[f32], wk: &[f32], wide: &mut [f32]) {
            wide_plane_body(plan, phases, wk, wide)
        }
        match level() {
            // SAFETY: `simd::level` never exceeds what this CPU reported.
            Level::Avx512 => return unsafe { avx512(plan, phases, wk, wide) },
            // SAFETY: as above.
            Level::Avx2 => return unsafe { avx2(plan, phases, wk, wide) },
            Level::Baseline => {}
        }
    }
    wide_plane_body(plan, phases, wk, wide)
}

/// The wide output plane, a block of [`BLOCK`] outputs at a time with every tap summed in a
/// register-sized accumulator, the rest in blocks of [`TAIL_BLOCK`]. Rust does not contract
/// `a * b + c` into FMA, so every vector width gives the same bits.
#[inline(always)]
fn wide_plane_body(plan: &FlatPlan, phases: &[f32], wk: &[f32], wide: &mut [f32]) {
    let full = wide.len() / BLOCK * BLOCK;
    let (head, tail) = wide.split_at_mut(full);
    sum_taps::<BLOCK>(plan, phases, wk, head, 0);
    sum_taps::<TAIL_BLOCK>(plan, phases, wk, tail, full);
}

/// `out` (starting at wide position `start`, a whole number of `B`-blocks) from the taps.
#[inline(always)]
fn sum_taps<const B: usize>(plan: &FlatPlan, phases: &[f32], wk: &[f32], out: &mut [f32], start: usize) {
    for (b, block) in out.chunks_exact_mut(B).enumerate() {
        let mut acc = [0.0f32; B];
        for (t, &w) in plan.taps.iter().zip(wk) {
            let at = t.phase * plan.phase_len + t.offset + start + b * B;
            let src: &[f32; B] = phases[at..][..B].try_into().expect("a block is B floats");
            acc.iter_mut().zip(src).for_each(|(a, &v)| *a += w * v);
        }
        block.copy_from_slice(&acc);
    }
}
