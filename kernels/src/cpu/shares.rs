//! Splitting one kernel's work across threads without ever putting the caller to sleep.
//!
//! rayon's `par_iter` called from a thread outside its pool hands the whole job to the pool and
//! blocks the caller until a worker has finished it: two context switches per kernel, each as
//! costly as a small kernel's whole work. And a sleeping worker can take as long to wake as the
//! share it would run.
//!
//! [`run_shares`] instead *offers* shares `1..n` as claimable tasks and runs share 0 on the
//! calling thread at once. Each share is claimed exactly once, by whoever gets to it first: a
//! worker, or the caller itself once its own share is done. So the caller never waits for a
//! worker to wake up — at worst it runs every share itself — and only waits for shares a worker
//! has actually started.
//!
//! Workers stay warm between kernels, as BLAS and OpenMP runtimes keep theirs: a worker that
//! served an offer keeps watching for the next one for [`WARM_FOR`] before it returns to rayon
//! (where it would soon sleep). A training step is a chain of kernels with short single-threaded
//! gaps between them, and waking a sleeping thread can cost most of a layer's share; a warm
//! worker picks an offer up at once (one atomic load per poll). Measurements in BENCHMARKS.md.
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A share nobody has started.
const OPEN: u8 = 0;
/// A share being run (by a worker or the caller).
const CLAIMED: u8 = 1;
/// A finished share (or, after a panic, one closed before anybody started it).
const DONE: u8 = 2;
/// A share whose worker panicked.
const PANICKED: u8 = 3;

/// How long a worker keeps watching for new offers after its last share.
const WARM_FOR: Duration = Duration::from_micros(300);

/// The shared-state pointer to the caller's closure, lifetime erased.
struct Job(*const (dyn Fn(usize) + Sync));

// SAFETY: the pointee is `Sync`, and a worker only dereferences it between winning a share's
// claim and marking that share finished, while the caller waits for exactly that (see
// `run_shares`), so the closure outlives every use.
unsafe impl Send for Job {}
// SAFETY: as above; the pointer itself is never mutated.
unsafe impl Sync for Job {}

/// One `run_shares` call's shares `1..n`, as workers see them.
struct Offer {
    job: Job,
    /// State of share `i + 1`.
    states: Vec<AtomicU8>,
}

impl Offer {
    /// Claims an open share, returning its index in `states`.
    fn claim(&self) -> Option<usize> {
        self.states.iter().position(|s| {
            s.load(Ordering::Relaxed) == OPEN
                && s.compare_exchange(OPEN, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok()
        })
    }

    /// Runs the share claimed as `states[i]` and marks it finished.
    fn run(&self, i: usize) {
        // SAFETY: this thread won the claim, so the caller is waiting for this share to be marked
        // finished and the closure is still alive (see `Job`).
        let f = unsafe { &*self.job.0 };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(i + 1)));
        self.states[i].store(if outcome.is_ok() { DONE } else { PANICKED }, Ordering::Release);
    }
}

/// The offers of every `run_shares` call in progress.
static OFFERS: Mutex<Vec<Arc<Offer>>> = Mutex::new(Vec::new());
/// Bumped whenever an offer is added, so warm workers poll one atomic instead of the lock.
static EPOCH: AtomicUsize = AtomicUsize::new(0);
/// Workers currently serving or watching for offers.
static WARM: AtomicUsize = AtomicUsize::new(0);

fn offers() -> std::sync::MutexGuard<'static, Vec<Arc<Offer>>> {
    // A panic inside the lock cannot leave the list inconsistent (push and remove are single
    // calls), so a poisoned lock is still usable.
    OFFERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Claims and runs one open share of any offer; false when there is none.
fn serve_any() -> bool {
    let claimed = offers().iter().find_map(|o| o.claim().map(|i| (Arc::clone(o), i)));
    let Some((offer, i)) = claimed else {
        return false;
    };
    offer.run(i);
    true
}

/// A worker's task: serve offers until none has come for [`WARM_FOR`].
fn serve_while_warm() {
    WARM.fetch_add(1, Ordering::SeqCst);
    let mut last_work = Instant::now();
    loop {
        let seen = EPOCH.load(Ordering::SeqCst);
        if serve_any() {
            last_work = Instant::now();
            continue;
        }
        // Nothing open: watch for a new offer, checking the clock now and then.
        let mut polls = 0u32;
        while EPOCH.load(Ordering::SeqCst) == seen {
            polls = polls.wrapping_add(1);
            if polls.is_multiple_of(256) && last_work.elapsed() > WARM_FOR {
                WARM.fetch_sub(1, Ordering::SeqCst);
                // An offer made just before we left counted on us: take it after all.
                if EPOCH.load(Ordering::SeqCst) == seen {
                    return;
                }
                WARM.fetch_add(1, Ordering::SeqCst);
                break;
            }
            std::hint::spin_loop();
        }
    }
}

/// Runs `f(0) .. f(n - 1)`, each exactly once, on the calling thread and any rayon workers that
/// pick them up in time. Returns when all have run. A panic in any share is re-raised here.
pub(crate) fn run_shares(n: usize, f: &(dyn Fn(usize) + Sync)) {
    if n <= 1 || rayon::current_num_threads() < 2 {
        (0..n).for_each(f);
        return;
    }
    // SAFETY (of the transmute): only the lifetime is erased; see `Job`.
    let job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(f) };
    let offer = Arc::new(Offer { job: Job(job), states: (1..n).map(|_| AtomicU8::new(OPEN)).collect() });
    offers().push(Arc::clone(&offer));
    EPOCH.fetch_add(1, Ordering::SeqCst);
    // Wake only as many workers as the shares that warm ones will not cover.
    let warm = WARM.load(Ordering::SeqCst);
    let wanted = (n - 1).min(rayon::current_num_threads() - 1);
    for _ in warm.min(wanted)..wanted {
        rayon::spawn(serve_while_warm);
    }
    // Share 0, then whatever no worker has started yet. A panic here must still wait for the
    // workers' shares below (they borrow `f`), so it is caught and re-raised at the end; each
    // share the caller claimed is marked finished either way.
    let mut mine = panic::catch_unwind(AssertUnwindSafe(|| f(0)));
    for (share, state) in (1..n).zip(offer.states.iter()) {
        if mine.is_ok() && state.compare_exchange(OPEN, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            mine = panic::catch_unwind(AssertUnwindSafe(|| f(share)));
            state.store(DONE, Ordering::Release);
        }
    }
    let mut worker_panicked = false;
    let mut spins = 0u32;
    for state in offer.states.iter() {
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
    // Every share is finished or closed, so no worker can call `f` any more.
    offers().retain(|o| !Arc::ptr_eq(o, &offer));
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
