//! Splitting one kernel's work across threads without ever putting the caller to sleep.
//!
//! rayon's `par_iter` called from a thread outside its pool hands the whole job to the pool and
//! blocks the caller until a worker has finished it: two context switches per kernel, which on
//! the development VM cost tens of microseconds each — half of a small MLP's training step. And
//! a sleeping worker can take as long to wake as the share it would run.
//!
//! [`run_shares`] instead offers shares `1..n` to rayon's workers as *claimable* tasks and runs
//! share 0 on the calling thread at once. Each task is claimed exactly once, by whoever gets to
//! it first: a worker that wakes in time, or the caller itself once its own share is done. So
//! the caller never waits for a worker to wake up — at worst it runs every share itself, at
//! the cost of one wake-up call — and only waits for shares a worker has actually started.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// A share nobody has started.
const OPEN: u8 = 0;
/// A share being run (by a worker or the caller).
const CLAIMED: u8 = 1;
/// A finished share (or, after a panic, one closed before anybody started it).
const DONE: u8 = 2;
/// A share whose worker panicked.
const PANICKED: u8 = 3;

/// The shared-state pointer to the caller's closure, lifetime erased.
struct Job(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and `run_shares` only lets a worker dereference it between
// winning a share's claim and marking that share finished, while the caller waits for exactly
// that (see `run_shares`), so the closure outlives every use.
unsafe impl Send for Job {}

/// Runs `f(0) .. f(n - 1)`, each exactly once, on the calling thread and any rayon workers that
/// pick them up in time. Returns when all have run. A panic in any share is re-raised here.
pub(crate) fn run_shares(n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n <= 1 || rayon::current_num_threads() < 2 {
        (0..n).for_each(f);
        return;
    }
    let states: Arc<Vec<AtomicU8>> = Arc::new((1..n).map(|_| AtomicU8::new(OPEN)).collect());
    // SAFETY (of the transmute): only the lifetime is erased; see `Job`.
    let job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f) };
    for share in 1..n {
        let (states, job) = (Arc::clone(&states), Job(job));
        rayon::spawn(move || {
            let job = job;
            let state = &states[share - 1];
            if state.compare_exchange(OPEN, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_err() {
                return; // the caller ran it
            }
            // SAFETY: this task won the claim, so the caller is waiting for this share to be
            // marked finished and `f` is still alive (see `Job`).
            let f = unsafe { &*job.0 };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(share)));
            state.store(if outcome.is_ok() { DONE } else { PANICKED }, Ordering::Release);
        });
    }
    // Share 0, then whatever no worker has started yet. A panic here must still wait for the
    // workers' shares below (they borrow `f`), so it is caught and re-raised at the end; each
    // share the caller claimed is marked finished either way.
    let mut mine = panic::catch_unwind(AssertUnwindSafe(|| f(0)));
    for (share, state) in (1..n).zip(states.iter()) {
        if mine.is_ok() && state.compare_exchange(OPEN, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            mine = panic::catch_unwind(AssertUnwindSafe(|| f(share)));
            state.store(DONE, Ordering::Release);
        }
    }
    let mut worker_panicked = false;
    let mut spins = 0u32;
    for state in states.iter() {
        // After a panic above, shares nobody started are closed so no worker starts them later.
        let _ = state.compare_exchange(OPEN, DONE, Ordering::Acquire, Ordering::Relaxed);
        loop {
            match state.load(Ordering::Acquire) {
                DONE => break,
                PANICKED => {
                    worker_panicked = true;
                    break;
                }
                _ if spins < 1 << 16 => {
                    spins += 1;
                    std::hint::spin_loop();
                }
                _ => std::thread::yield_now(),
            }
        }
    }
    if let Err(payload) = mine {
        panic::resume_unwind(payload);
    }
    assert!(!worker_panicked, "a kernel share panicked on a worker thread");
}

/// Splits `0..len` into `parts` nearly equal contiguous ranges, each a multiple of `align`
/// except the last; share `i` of [`run_shares`] takes range `i`.
pub(crate) fn ranges(len: usize, parts: usize, align: usize) -> Vec<std::ops::Range<usize>> {
    let size = len.div_ceil(parts.max(1)).next_multiple_of(align.max(1)).max(1);
    (0..len).step_by(size).map(|s| s..(s + size).min(len)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_share_runs_exactly_once_from_inside_and_outside_the_pool() {
        for n in [0, 1, 2, 3, 17] {
            let counts: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            run_shares(n, &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1), "n = {n}");
            // Nested, from a rayon worker.
            let total = AtomicUsize::new(0);
            rayon::join(
                || {
                    run_shares(n, &|_| {
                        run_shares(3, &|_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                },
                || (),
            );
            assert_eq!(total.load(Ordering::Relaxed), 3 * n);
        }
    }

    #[test]
    fn a_panicking_share_is_reported_to_the_caller() {
        let caught = panic::catch_unwind(|| run_shares(4, &|i| assert_ne!(i, 3, "share 3 fails")));
        assert!(caught.is_err());
    }

    #[test]
    fn ranges_cover_everything_once_in_aligned_pieces() {
        for (len, parts, align) in [(0, 2, 1), (10, 3, 1), (100, 2, 48), (1000, 4, 16), (5, 8, 1)] {
            let r = ranges(len, parts, align);
            assert!(r.len() <= parts.max(1));
            assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), len);
            assert!(r.windows(2).all(|w| w[0].end == w[1].start && w[0].len() % align == 0));
        }
    }
}
