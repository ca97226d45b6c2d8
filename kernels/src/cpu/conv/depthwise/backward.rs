//! The depthwise backward in the flat layout ([`super::flat`]), as gathers: no scattered
//! read-modify-write of rows.
//!
//! The input gradient of phase-plane position `r` is `Σ_taps w · dy_wide[r − offset]`: each
//! input plane's phase planes are summed a block at a time over its `m` output channels and
//! taps, then written back to the image positions. The weight gradient of a tap is the dot
//! product of the wide output-gradient plane with the phase plane at the tap's offset (the
//! columns past each row are zero in `dy_wide`, so they add nothing), summed in 16 lanes over
//! every image in order, so the result does not depend on the thread count.

use super::super::{with_scratch, Conv2dGeometry};
use super::flat::{FlatPlan, BLOCK, TAIL_BLOCK, TASK_FLOATS};
use super::forward::PHASES;
use crate::cpu::gemm::PAR_MIN_MACS;
use crate::cpu::{for_each_piece, worth_splitting};
use std::cell::Cell;

/// Lanes of the weight gradient's running sums.
const LANES: usize = 16;

thread_local! {
    /// Output-gradient planes in the wide layout, after `max_offset` leading zeros.
    static DY_WIDE: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    /// The weight gradient's lanes of one output channel.
    static LANE_SUMS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// `dx[n, ic] = Σ over the channel's `m` outputs and the taps of `w · dy` put back where the tap
/// read, a group of input planes per task.
pub(in super::super) fn backward_input(dy: &[f32], weight: &[f32], g: &Conv2dGeometry, dx: &mut [f32]) {
    let plan = FlatPlan::new(g);
    let (plane, taps, m) = (plan.oh * plan.ow, plan.taps.len(), g.out_per_group());
    let lead = plan.max_offset;
    let dy_len = lead + plan.phase_len;
    let hw = g.h * g.w;
    let per_task = TASK_FLOATS.div_ceil(hw).min(g.n * g.c);
    let parallel = worth_splitting(g.n * g.o * plane * taps, PAR_MIN_MACS);
    for_each_piece(dx, hw * per_task, parallel, &|t, dx_t| {
        with_scratch(&DY_WIDE, m * dy_len, |dy_wide| {
            // The leading zeros and the tail past the wide plane are the same for every plane.
            dy_wide.fill(0.0);
            with_scratch(&PHASES, plan.phases() * plan.phase_len, |grads| {
                for (j, dx_p) in dx_t.chunks_exact_mut(hw).enumerate() {
                    let (n, ic) = ((t * per_task + j) / g.c, (t * per_task + j) % g.c);
                    // The channel's outputs are `m` consecutive channels.
                    for (k, wide) in dy_wide.chunks_exact_mut(dy_len).enumerate() {
                        let dy_k = &dy[(n * g.o + ic * m + k) * plane..][..plane];
                        plan.widen(dy_k, &mut wide[lead..][..plan.wide_len]);
                    }
                    phase_grads(&plan, dy_wide, &weight[ic * m * taps..][..m * taps], grads);
                    plan.unsplit(grads, dx_p);
                }
            });
        });
    });
}

widest! {
    /// The gradients of one input plane's phase planes into `grads`, from its `m` wide
    /// output-gradient planes and kernels.
    fn phase_grads = phase_grads_body(plan: &FlatPlan, dy_wide: &[f32], wk: &[f32], grads: &mut [f32])
}

#[inline(always)]
fn phase_grads_body(plan: &FlatPlan, dy_wide: &[f32], wk: &[f32], grads: &mut [f32]) {
    let dy_len = plan.max_offset + plan.phase_len;
    for (p, phase) in grads.chunks_exact_mut(plan.phase_len).enumerate() {
        let rows = &mut phase[..plan.grad_len];
        let full = rows.len() / BLOCK * BLOCK;
        let (head, tail) = rows.split_at_mut(full);
        gather::<BLOCK>(plan, p, dy_wide, dy_len, wk, head, 0);
        gather::<TAIL_BLOCK>(plan, p, dy_wide, dy_len, wk, tail, full);
    }
}

/// Phase plane `p`'s gradient at positions `start..` (whole `B`-blocks) into `out`.
#[inline(always)]
fn gather<const B: usize>(
    plan: &FlatPlan,
    p: usize,
    dy_wide: &[f32],
    dy_len: usize,
    wk: &[f32],
    out: &mut [f32],
    start: usize,
) {
    let taps = plan.taps.len();
    for (b, block) in out.chunks_exact_mut(B).enumerate() {
        let mut acc = [0.0f32; B];
        for (dy_j, wk_j) in dy_wide.chunks_exact(dy_len).zip(wk.chunks_exact(taps)) {
            for (t, &w) in plan.taps.iter().zip(wk_j).filter(|(t, _)| t.phase == p) {
                let at = plan.max_offset - t.offset + start + b * B;
                let src: &[f32; B] = dy_j[at..][..B].try_into().expect("a block is B floats");
                acc.iter_mut().zip(src).for_each(|(a, &v)| *a += w * v);
            }
        }
        block.copy_from_slice(&acc);
    }
}

/// `dw[oc, tap] = Σ_n Σ_rows dy[n, oc] · shifted x[n, oc / m]`, and `db[oc] = Σ dy[n, oc]` when
/// asked, one output channel per task.
pub(in super::super) fn backward_weight(
    dy: &[f32],
    x: &[f32],
    g: &Conv2dGeometry,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let plan = FlatPlan::new(g);
    let (plane, taps) = (plan.oh * plan.ow, plan.taps.len());
    // Per channel: its taps' gradients, then its bias gradient.
    let share = taps + 1;
    let parallel = worth_splitting(g.n * g.o * plane * taps, PAR_MIN_MACS);
    with_scratch(&super::super::PARTIALS, g.o * share, |partials| {
        for_each_piece(partials, share, parallel, &|oc, part| channel_weight(&plan, dy, x, oc, part));
        for (d, p) in dw.chunks_exact_mut(taps).zip(partials.chunks_exact(share)) {
            d.copy_from_slice(&p[..taps]);
        }
        if let Some(db) = db {
            db.iter_mut().zip(partials.chunks_exact(share)).for_each(|(d, p)| *d = p[taps]);
        }
    });
}

/// One output channel's weight and bias gradients into `part` (`[taps + 1]`).
fn channel_weight(plan: &FlatPlan, dy: &[f32], x: &[f32], oc: usize, part: &mut [f32]) {
    let g = &plan.g;
    let (plane, hw, share) = (plan.oh * plan.ow, g.h * g.w, plan.taps.len() + 1);
    let ic = oc / g.out_per_group();
    with_scratch(&LANE_SUMS, share * LANES, |lanes| {
        lanes.fill(0.0);
        with_scratch(&PHASES, plan.phases() * plan.phase_len, |phases| {
            phases.fill(0.0);
            with_scratch(&DY_WIDE, plan.wide_len, |dy_wide| {
                dy_wide.fill(0.0);
                for n in 0..g.n {
                    plan.split(&x[(n * g.c + ic) * hw..][..hw], phases);
                    plan.widen(&dy[(n * g.o + oc) * plane..][..plane], dy_wide);
                    weight_lanes(plan, dy_wide, phases, lanes);
                }
            });
        });
        for (p, l) in part.iter_mut().zip(lanes.chunks_exact(LANES)) {
            *p = l.iter().sum();
        }
    });
}

widest! {
    /// Adds one image's products into `lanes` (`[taps + 1][LANES]`, the last row summing `dy`).
    fn weight_lanes = weight_lanes_body(plan: &FlatPlan, dy_wide: &[f32], phases: &[f32], lanes: &mut [f32])
}

#[inline(always)]
fn weight_lanes_body(plan: &FlatPlan, dy_wide: &[f32], phases: &[f32], lanes: &mut [f32]) {
    let (tap_lanes, bias_lanes) = lanes.split_at_mut(plan.taps.len() * LANES);
    for (t, acc) in plan.taps.iter().zip(tap_lanes.chunks_exact_mut(LANES)) {
        let src = &phases[t.phase * plan.phase_len + t.offset..][..plan.wide_len];
        let mut sum = [0.0f32; LANES];
        for (d, v) in dy_wide.chunks_exact(LANES).zip(src.chunks_exact(LANES)) {
            for l in 0..LANES {
                sum[l] += d[l] * v[l];
            }
        }
        acc.iter_mut().zip(sum).for_each(|(a, s)| *a += s);
    }
    let mut sum = [0.0f32; LANES];
    for d in dy_wide.chunks_exact(LANES) {
        for l in 0..LANES {
            sum[l] += d[l];
        }
    }
    bias_lanes.iter_mut().zip(sum).for_each(|(a, s)| *a += s);
}
