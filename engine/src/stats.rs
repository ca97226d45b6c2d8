//! Op statistics: kernel launches and FLOPs by op kind, split into forward and backward.
//!
//! Counts are kept per thread, so concurrent tests and parallel trials do not see each other's
//! work. Every kernel the engine launches is counted once, at the point it is dispatched.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// Launches and floating-point operations of one op kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCount {
    pub launches: u64,
    pub flops: u64,
}

/// A snapshot of the counters of the current thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    pub forward: BTreeMap<&'static str, OpCount>,
    pub backward: BTreeMap<&'static str, OpCount>,
}

impl OpStats {
    /// Launches of `kind` during backward passes (0 when none ran).
    pub fn backward_launches(&self, kind: &str) -> u64 {
        self.backward.get(kind).map_or(0, |c| c.launches)
    }
    /// Launches of `kind` during forward computation.
    pub fn forward_launches(&self, kind: &str) -> u64 {
        self.forward.get(kind).map_or(0, |c| c.launches)
    }
    /// Total FLOPs counted in backward passes.
    pub fn backward_flops(&self) -> u64 {
        self.backward.values().map(|c| c.flops).sum()
    }
    /// Total FLOPs counted outside backward passes.
    pub fn forward_flops(&self) -> u64 {
        self.forward.values().map(|c| c.flops).sum()
    }
}

thread_local! {
    static STATS: RefCell<OpStats> = RefCell::new(OpStats::default());
    static IN_BACKWARD: Cell<bool> = const { Cell::new(false) };
}

/// Counts one launch of `kind` doing `flops` floating-point operations.
pub(crate) fn record(kind: &'static str, flops: u64) {
    let backward = IN_BACKWARD.with(|b| b.get());
    STATS.with(|s| {
        let mut s = s.borrow_mut();
        let map = if backward { &mut s.backward } else { &mut s.forward };
        let c = map.entry(kind).or_default();
        c.launches += 1;
        c.flops += flops;
    });
}

/// The counters of the current thread.
pub fn op_stats() -> OpStats {
    STATS.with(|s| s.borrow().clone())
}

/// Clears the counters of the current thread.
pub fn reset_op_stats() {
    STATS.with(|s| *s.borrow_mut() = OpStats::default());
}

/// Marks the current thread as running a backward pass until dropped.
pub(crate) struct BackwardPhase {
    was: bool,
}

impl BackwardPhase {
    pub(crate) fn enter() -> Self {
        BackwardPhase { was: IN_BACKWARD.with(|b| b.replace(true)) }
    }
}

impl Drop for BackwardPhase {
    fn drop(&mut self) {
        IN_BACKWARD.with(|b| b.set(self.was));
    }
}
