//! graft's GEMM against the `gemm` crate and `matrixmultiply` in alternation: the same products
//! as `benches/matmul.rs`, but each round times every library once, back to back in a rotating
//! order, and the ratios are taken within a round.
//!
//! Run: `cargo bench --bench matmul_paired` (add `-- square` or `-- training` to filter by
//! shape name or group). On a shared machine whose speed drifts by tens of percent over
//! minutes, criterion's one-library-after-another runs can put two libraries in different
//! weather; a ratio of two timings taken a few milliseconds apart cannot. Prints, per product,
//! each library's median GFLOP/s over the rounds, and the median and range of graft's per-round
//! ratio to each reference.

use std::time::{Duration, Instant};

#[path = "common/gemm_libs.rs"]
mod gemm_libs;
use gemm_libs::{data, square_shapes, training_shapes, Shape, LIBRARIES};

/// Rounds per product (each times every library once).
const ROUNDS: usize = 21;
/// Time one measurement aims for: long enough for the clock, short enough that the machine's
/// speed rarely changes within a round.
const TARGET: Duration = Duration::from_millis(15);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// GFLOP/s of `reps` calls.
fn measure(f: gemm_libs::GemmFn, s: Shape, (a, b, out): (&[f32], &[f32], &mut [f32]), reps: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        f(s, a, b, out);
    }
    (2 * s.m * s.n * s.k * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn run(group: &str, s: Shape) {
    let (a, b) = (data(s.m * s.k, 1), data(s.k * s.n, 2));
    let mut out = vec![0.0f32; s.m * s.n];
    // Calibrate on graft (after a warm-up call of every library), so every library gets the
    // same number of calls per round.
    for (_, f) in LIBRARIES {
        f(s, &a, &b, &mut out);
    }
    let once = Instant::now();
    (LIBRARIES[0].1)(s, &a, &b, &mut out);
    let reps = (TARGET.as_secs_f64() / once.elapsed().as_secs_f64().max(1e-9)).clamp(1.0, 1e6) as usize;
    let mut rates = vec![Vec::with_capacity(ROUNDS); LIBRARIES.len()];
    for round in 0..ROUNDS {
        for i in 0..LIBRARIES.len() {
            let lib = (i + round) % LIBRARIES.len();
            rates[lib].push(measure(LIBRARIES[lib].1, s, (&a, &b, &mut out), reps));
        }
    }
    let mut line = format!("{group}/{}:", s.name);
    for (lib, r) in LIBRARIES.iter().zip(&rates) {
        line += &format!(" {} {:.1}", lib.0, median(r.clone()));
    }
    for (lib, r) in LIBRARIES.iter().zip(&rates).skip(1) {
        let ratios: Vec<f64> = rates[0].iter().zip(r).map(|(g, x)| g / x).collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        line += &format!(" | graft/{} {:.3} [{lo:.2}, {hi:.2}]", lib.0, median(ratios));
    }
    println!("{line}");
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters the products.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    println!("GFLOP/s, medians of {ROUNDS} rounds; graft/reference: median per-round ratio [min, max]");
    let groups = [
        ("matmul_square", square_shapes()),
        ("matmul_training_b32", training_shapes(32)),
        ("matmul_training_b256", training_shapes(256)),
    ];
    for (group, shapes) in groups {
        for s in shapes {
            if format!("{group}/{}", s.name).contains(&filter) {
                run(group, s);
            }
        }
    }
}
