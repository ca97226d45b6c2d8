//! Products with many rows run by a team: the threads take groups of A panels as they go,
//! instead of a fixed half each.
//!
//! The default split (`Share::split`) gives each thread a fixed rectangle of the output. When a
//! thread is slowed down (a busy machine, a VM whose other tenants take a core for a while, a
//! thread that reads its rows of A from farther away), the other finishes early and waits. A
//! team cuts each block of the large-m loop nest (`Share::large_m_blocks`) into groups of A
//! panels. Every thread goes through the blocks in order; in each it sweeps first the groups of
//! its own home range (the same rows in every block, so its rows of A and C stay in its caches),
//! then any group nobody has taken yet, taking the other ranges from their far end. A thread
//! packs each block's B for itself, as the split does, and only once it has claimed a group of
//! the block. (Sharing one packed block between the threads halves the packing, but every sweep
//! then waits for all of it and reads half of it from the other core's L2, which costs more
//! than the packing it saves; see BENCHMARKS.md.)
//!
//! A group's sweep of block `b` waits for its sweep of block `b - 1` (whose tile it accumulates
//! into, and whose packed A panels it may reuse). A thread moves past a block only once every
//! group of it is claimed, so every sweep waited for is held by a running thread, and a team
//! always finishes, even when the caller ends up running every group alone (see
//! `cpu::shares`). Each tile is computed exactly as a lone thread computes it, so the result is
//! bit-identical whichever thread swept which group.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::{aligned, Blocking, LargeBlock, MicroKernel, Share, B_BUF};

/// A-panel groups per thread in each block: enough that when one thread runs out of groups,
/// the others are at most a small group away from the end.
const GROUPS_PER_THREAD: usize = 8;

/// Whether `share` (the whole product) should run as a team of `threads`: when the split
/// would cut it by rows only, into shares of at least `GROUPS_PER_THREAD` A panels (with
/// fewer, the groups are too coarse to balance). A split that cuts columns keeps each thread's
/// packing of B to its own columns, which a team, whose threads each pack all of B, would undo.
pub(super) fn worth_it<K: MicroKernel>(share: Share, threads: usize) -> bool {
    threads >= 2 && share.m.div_ceil(K::MR) >= GROUPS_PER_THREAD * threads && share.grid::<K>(threads) == (threads, 1)
}

/// A buffer that the team's threads write in disjoint parts.
#[derive(Clone, Copy)]
struct SharedBuf(*mut f32);

// SAFETY: threads only form a slice of a `SharedBuf` for a group whose sweep they claimed, and
// each group has its own region, which its sweeps use one at a time (`Team::sweep` waits for the
// group's previous sweep), so no two threads ever hold overlapping slices. The buffer outlives
// the team (`run` borrows it for the whole call).
unsafe impl Send for SharedBuf {}
// SAFETY: as above.
unsafe impl Sync for SharedBuf {}

/// The state that a team's threads share for one product.
struct Team<'a> {
    blocks: Vec<LargeBlock<'a>>,
    /// See [`Blocking::in_place_span`].
    in_place_span: usize,
    /// Per group: blocks whose sweep of it has been claimed, and finished. Every block holds
    /// every group, as all row blocks but the last have the same number of panels, and the
    /// last no more.
    claimed: Vec<AtomicUsize>,
    progress: Vec<AtomicUsize>,
    /// Set when a sweep panicked, so that nobody waits for it forever.
    failed: AtomicBool,
    /// A panels per group.
    group_panels: usize,
    /// Packed A panels, one region per group (empty when A is read in place): a group's
    /// panels are packed in its first column block and reused by the others, whichever
    /// thread sweeps them.
    a_buf: SharedBuf,
    a_region: usize,
}

/// Runs `share` (the whole product) as a team of up to `threads` threads, `a_buf` (the
/// caller's) holding the packed A panels.
pub(super) fn run<K: MicroKernel>(
    share: Share,
    (k, accumulate): (usize, bool),
    blk: &Blocking,
    threads: usize,
    a_buf: &mut Vec<f32>,
) {
    let blocks: Vec<LargeBlock> = share.large_m_blocks::<K>(k, accumulate, *blk).collect();
    let Some(first) = blocks.first() else { return };
    let group_panels = (first.rows.1.div_ceil(K::MR) / (GROUPS_PER_THREAD * threads)).max(1);
    let max_groups = first.rows.1.div_ceil(K::MR).div_ceil(group_panels);
    let kc_max = blocks.iter().map(|b| b.block.kc).max().unwrap_or(0);
    let a_region = if first.block.packs_a::<K>() { group_panels * kc_max * K::MR } else { 0 };
    let counters = || (0..max_groups).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>();
    let team = Team {
        in_place_span: blk.in_place_span,
        claimed: counters(),
        progress: counters(),
        failed: AtomicBool::new(false),
        group_panels,
        a_buf: SharedBuf(aligned(a_buf, max_groups * a_region).as_mut_ptr()),
        a_region,
        blocks,
    };
    crate::cpu::shares::run_shares(threads, &|t| {
        let _guard = PanicGuard(&team.failed);
        let mut b_buf = B_BUF.take();
        team.work::<K>(t, threads, &mut b_buf);
        B_BUF.set(b_buf);
    });
}

/// Marks the team failed if dropped during a panic, so that no thread waits for a sweep that
/// will never finish.
struct PanicGuard<'t>(&'t AtomicBool);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl Team<'_> {
    /// Thread `t`'s part: every block in order, sweeping its home range, then what is left.
    fn work<K: MicroKernel>(&self, t: usize, threads: usize, b_buf: &mut Vec<f32>) {
        for (step, large) in self.blocks.iter().enumerate() {
            let groups = self.groups::<K>(step);
            let home = t * groups / threads..(t + 1) * groups / threads;
            let others = (0..groups).rev().filter(|g| !home.contains(g));
            let mut packed = false;
            for group in home.clone().chain(others) {
                let claim = self.claimed[group].compare_exchange(step, step + 1, Ordering::AcqRel, Ordering::Relaxed);
                if claim.is_err() {
                    continue;
                }
                let b_pack = aligned(b_buf, large.block.nc.div_ceil(K::NR) * large.block.kc * K::NR);
                if !packed {
                    large.block.pack_b_panels::<K>(b_pack, large.block.reads_b_in_place(self.in_place_span));
                    packed = true;
                }
                if !self.sweep::<K>(step, group, b_pack) {
                    return;
                }
            }
        }
    }

    /// Sweeps A-panel group `group` of block `step` across `b_pack`, once the group's sweep of
    /// the block before has finished; false if the team failed.
    fn sweep<K: MicroKernel>(&self, step: usize, group: usize, b_pack: &[f32]) -> bool {
        if !self.wait(&self.progress[group], step) {
            return false;
        }
        let LargeBlock { block, rows, first_col_block } = self.blocks[step];
        let tiles_m = rows.1.div_ceil(K::MR);
        let panels = group * self.group_panels..((group + 1) * self.group_panels).min(tiles_m);
        // SAFETY: this group's region of the A buffer (empty when A is read in place); see
        // `SharedBuf`.
        let a_pack = unsafe { std::slice::from_raw_parts_mut(self.a_buf.0.add(group * self.a_region), self.a_region) };
        let in_place = block.reads_b_in_place(self.in_place_span);
        block.sweep::<K>(rows.0, panels, a_pack, first_col_block, b_pack, in_place);
        self.progress[group].store(step + 1, Ordering::Release);
        true
    }

    /// Groups of block `step`.
    fn groups<K: MicroKernel>(&self, step: usize) -> usize {
        self.blocks[step].rows.1.div_ceil(K::MR).div_ceil(self.group_panels)
    }

    /// Waits until `counter` reaches `target`; false if the team failed meanwhile.
    fn wait(&self, counter: &AtomicUsize, target: usize) -> bool {
        let mut spins = 0u32;
        while counter.load(Ordering::Acquire) < target {
            if self.failed.load(Ordering::Acquire) {
                return false;
            }
            // Spin briefly (the sweep waited for is usually about to finish), then give the
            // core away: on an oversubscribed machine the thread being waited for may need it.
            spins = spins.saturating_add(1);
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        true
    }
}
