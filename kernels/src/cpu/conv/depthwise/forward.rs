//! The depthwise forward in the flat layout ([`super::flat`]): an output plane `pw` columns
//! wide is a sum of `kh·kw` shifted runs of the phase planes, all taps of 64 outputs summed in
//! registers and stored once, and its valid `ow` columns go out through the epilogue. Computing
//! along output rows instead (one tap at a time, reloading and storing the row each time)
//! leaves most lanes idle on MobileNet's 12-, 6- and 3-wide planes and spends its time on the
//! row's loads and stores.

use super::super::{with_scratch, Conv2dGeometry, ConvEpilogue};
use super::flat::{FlatPlan, BLOCK, TAIL_BLOCK, TASK_FLOATS};
use crate::cpu::gemm::PAR_MIN_MACS;
use crate::cpu::{for_each_piece, worth_splitting};
use std::cell::Cell;

thread_local! {
    /// One input plane's phase planes.
    pub(super) static PHASES: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// One output plane, `pw` columns wide.
    static WIDE_OUT: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

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

widest! {
    /// The wide output plane of one channel from its phase planes and kernel `wk`.
    fn wide_plane = wide_plane_body(plan: &FlatPlan, phases: &[f32], wk: &[f32], wide: &mut [f32])
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
