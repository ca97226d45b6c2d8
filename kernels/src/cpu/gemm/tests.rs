//! Differential tests of every micro-kernel this CPU runs against a naive f64 reference.

use super::*;

/// `op(A) · op(B) (+ bias)` in f64, per batch entry, plus the prior `out` when accumulating,
/// then the ReLU when `relu`.
fn reference(a: &[f32], b: &[f32], epi: Epilogue, prior: &[f32], s: MatmulSpec) -> Vec<f64> {
    let mut out = vec![0.0f64; s.batch * s.m * s.n];
    for bi in 0..s.batch {
        let (ao, bo) = (bi * s.a_batch_stride, bi * s.b_batch_stride);
        for i in 0..s.m {
            for j in 0..s.n {
                let mut acc = 0.0f64;
                for p in 0..s.k {
                    let av = if s.trans_a { a[ao + p * s.m + i] } else { a[ao + i * s.k + p] };
                    let bv = if s.trans_b { b[bo + j * s.k + p] } else { b[bo + p * s.n + j] };
                    acc += av as f64 * bv as f64;
                }
                let o = bi * s.m * s.n + i * s.n + j;
                let bias = epi.bias.map_or(0.0, |bias| bias[j] as f64);
                let sum = acc + bias + if s.accumulate { prior[o] as f64 } else { 0.0 };
                out[o] = if epi.relu { sum.max(0.0) } else { sum };
            }
        }
    }
    out
}

/// Deterministic values in [-1, 1) from a simple LCG, so failures reproduce.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Runs one spec through `cfg` and compares with the reference: plain, with a bias, and with a
/// bias and a ReLU; the tolerance grows with k because f32 sums of k terms of size ≤ 1 carry
/// about √k·k·ε of rounding.
fn check(spec: MatmulSpec, cfg: Config) {
    check_epilogue(spec, cfg, false, false);
    check_epilogue(spec, cfg, true, false);
    check_epilogue(spec, cfg, true, true);
}

fn check_epilogue(spec: MatmulSpec, cfg: Config, with_bias: bool, relu: bool) {
    let a_len = (spec.batch - 1) * spec.a_batch_stride + spec.m * spec.k;
    let b_len = (spec.batch - 1) * spec.b_batch_stride + spec.k * spec.n;
    let a = values(a_len.max(1), 1 + spec.m as u64);
    let b = values(b_len.max(1), 2 + spec.n as u64);
    let prior = values(spec.batch * spec.m * spec.n, 3);
    let bias = with_bias.then(|| values(spec.n, 4));
    let epi = Epilogue { bias: bias.as_deref(), relu };
    let mut out = prior.clone();
    gemm_with(&a, &b, epi, &mut out, spec, cfg);
    let want = reference(&a, &b, epi, &prior, spec);
    let tol = 1e-5 * (1.0 + spec.k as f64);
    for (idx, (&got, &want)) in out.iter().zip(&want).enumerate() {
        assert!((got as f64 - want).abs() <= tol, "{cfg:?} {spec:?} {epi:?}: out[{idx}] = {got}, want {want}");
    }
}

fn spec(batch: usize, m: usize, n: usize, k: usize, ta: bool, tb: bool, acc: bool) -> MatmulSpec {
    MatmulSpec {
        batch,
        m,
        n,
        k,
        trans_a: ta,
        trans_b: tb,
        a_batch_stride: m * k,
        b_batch_stride: k * n,
        accumulate: acc,
    }
}

const TRANSPOSES: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

fn available() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
}

/// Small blocks so that depth, column and row blocking and their edges are all exercised on
/// matrices small enough for the f64 reference.
fn tiny_blocking(isa: Isa) -> Blocking {
    let (mr, nr) = match isa {
        Isa::Avx512 => (kernel_avx512::Avx512::MR, kernel_avx512::Avx512::NR),
        Isa::Avx2Fma => (kernel_avx2::Avx2Fma::MR, kernel_avx2::Avx2Fma::NR),
        Isa::Portable => (kernel_portable::Portable::MR, kernel_portable::Portable::NR),
    };
    Blocking { kc: 16, nc: 2 * nr, mc: 2 * mr, in_place_span: 0 }
}

#[test]
fn the_portable_kernel_is_always_available() {
    assert!(Isa::Portable.is_available());
    assert!(Isa::best().is_available());
}

#[test]
fn awkward_sizes_every_transpose_every_kernel() {
    let sizes = [
        (1, 1, 1),
        (1, 1, 7),
        (1, 13, 5),
        (7, 1, 5),
        (2, 3, 1),
        (5, 7, 11),
        (8, 48, 16),
        (9, 49, 17),
        (13, 31, 37),
        (17, 97, 3),
        (65, 50, 19),
        (100, 17, 29),
        (31, 129, 64),
        // Last panel of one grain, merged and split evenly (32 + 32, 48 + 32 + 32).
        (5, 64, 9),
        (3, 112, 20),
        // 49–64 columns as one wide panel, on rows grouped 6 at a time with 1–5 left over.
        (64, 64, 21),
        (13, 60, 33),
        (8, 49, 7),
        (45, 64, 40),
        (11, 52, 300),
    ];
    for isa in available() {
        for &(m, n, k) in &sizes {
            for (ta, tb) in TRANSPOSES {
                for acc in [false, true] {
                    for threads in [Threads::Single, Threads::Parallel] {
                        let s = spec(1, m, n, k, ta, tb, acc);
                        check(s, Config { isa, blocking: None, threads });
                        check(s, Config { isa, blocking: Some(tiny_blocking(isa)), threads });
                        let in_place = Blocking { in_place_span: usize::MAX, ..tiny_blocking(isa) };
                        check(s, Config { isa, blocking: Some(in_place), threads });
                    }
                }
            }
        }
    }
}

#[test]
fn zero_depth_overwrites_or_keeps_the_output() {
    for isa in available() {
        for acc in [false, true] {
            check(spec(2, 5, 9, 0, false, false, acc), Config { isa, blocking: None, threads: Threads::Auto });
        }
    }
}

#[test]
fn large_depth_spans_several_depth_blocks() {
    for isa in available() {
        for (ta, tb) in TRANSPOSES {
            check(spec(1, 9, 19, 1500, ta, tb, false), Config { isa, blocking: None, threads: Threads::Auto });
            check(spec(1, 70, 5, 1100, ta, tb, true), Config { isa, blocking: None, threads: Threads::Parallel });
        }
    }
}

#[test]
fn training_shapes_and_their_backward_transposes() {
    // x·Wᵀ forward, G·W for dX, Gᵀ·X for dW of a 784-300-100-10 MLP at batch 32.
    for isa in available() {
        for &(m, n, k) in &[(32, 300, 784), (32, 100, 300), (32, 10, 100)] {
            let cfg = Config { isa, blocking: None, threads: Threads::Auto };
            check(spec(1, m, n, k, false, true, false), cfg);
            check(spec(1, m, k, n, false, false, false), cfg);
            check(spec(1, n, k, m, true, false, true), cfg);
        }
    }
}

#[test]
fn batch_strides_zero_and_nonzero() {
    for isa in available() {
        for (ta, tb) in TRANSPOSES {
            for threads in [Threads::Auto, Threads::Single, Threads::Parallel] {
                let cfg = Config { isa, blocking: None, threads };
                let (m, n, k) = (11, 23, 13);
                // Shared B (stride 0), shared A, both shared, and padded strides.
                for (sa, sb) in [(m * k, 0), (0, k * n), (0, 0), (m * k + 5, k * n + 3)] {
                    for acc in [false, true] {
                        let s = MatmulSpec { a_batch_stride: sa, b_batch_stride: sb, ..spec(3, m, n, k, ta, tb, acc) };
                        check(s, cfg);
                    }
                }
            }
        }
    }
}

#[test]
fn many_small_matrices_run_in_parallel_over_the_batch() {
    // Each product is below the threshold but the batch is not: the batch-parallel path.
    let s = spec(192, 30, 30, 30, false, true, false);
    assert!(s.m * s.n * s.k < PAR_MIN_MACS && s.batch * s.m * s.n * s.k >= PAR_MIN_MACS);
    for isa in available() {
        check(s, Config { isa, blocking: None, threads: Threads::Auto });
    }
}

#[test]
fn large_square_products_cross_every_block_boundary() {
    for isa in available() {
        for (ta, tb) in TRANSPOSES {
            check(spec(1, 301, 533, 257, ta, tb, false), Config { isa, blocking: None, threads: Threads::Auto });
        }
    }
}

#[test]
fn thread_shares_cover_the_output_once_and_balance_it() {
    fn cover<K: MicroKernel>(m: usize, n: usize, threads: usize) -> Vec<(usize, usize, usize, usize)> {
        let (a, b) = (vec![0.0; m * 3], vec![0.0; 3 * n]);
        let mut c = vec![0.0f32; m * n];
        let base = c.as_mut_ptr() as usize;
        let whole = Share {
            a: MatRef { data: &a, ld: 3, trans: false },
            b: MatRef { data: &b, ld: n, trans: false },
            epi: Epilogue::default(),
            out: OutPtr(c.as_mut_ptr()),
            ldc: n,
            m,
            n,
        };
        let shares = whole.split::<K>(threads);
        assert!(shares.len() <= threads.max(1));
        let mut hits = vec![0u8; m * n];
        let mut cells = Vec::new();
        for s in &shares {
            let corner = (s.out.0 as usize - base) / 4;
            let (i0, j0) = (corner / n, corner % n);
            for i in i0..i0 + s.m {
                for j in j0..j0 + s.n {
                    hits[i * n + j] += 1;
                }
            }
            cells.push((i0, j0, s.m, s.n));
        }
        assert!(hits.iter().all(|&h| h == 1), "{m}×{n} over {threads} threads: {cells:?}");
        cells
    }
    for threads in 1..=8 {
        for (m, n) in [(1, 1), (7, 300), (256, 300), (300, 784), (512, 512), (2048, 2048), (9, 5000)] {
            cover::<kernel_portable::Portable>(m, n, threads);
            cover::<kernel_avx512::Avx512>(m, n, threads);
        }
    }
    // Evenly split work where panels would not split evenly: 512 columns are 10⅔ panels of 48.
    let cells = cover::<kernel_avx512::Avx512>(512, 512, 2);
    assert!(cells.iter().all(|&(_, _, m, n)| m * n == 512 * 256), "{cells:?}");
    // 300 columns split by 16-column grains, not by 48-column panels (192/108).
    let cells = cover::<kernel_avx512::Avx512>(8, 300, 2);
    assert!(cells.iter().all(|&(_, _, _, n)| n.abs_diff(150) <= 16), "{cells:?}");
}

#[test]
fn teams_of_any_size_match_the_reference() {
    // Tall enough for several groups per thread; with tiny blocks, many row, depth and column
    // blocks (group sweeps wait on the block before, A panels are packed in the first column
    // block and reused in the others); B read in place and packed; in pools of one thread (the
    // caller sweeps every group alone) up to four.
    for threads in 1..=4 {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        pool.install(|| {
            for isa in available() {
                for &(m, n, k) in &[(200, 61, 45), (131, 100, 70), (97, 9, 130)] {
                    for (ta, tb) in TRANSPOSES {
                        for acc in [false, true] {
                            let s = spec(1, m, n, k, ta, tb, acc);
                            let tiny = tiny_blocking(isa);
                            for blocking in [None, Some(tiny), Some(Blocking { in_place_span: usize::MAX, ..tiny })] {
                                check(s, Config { isa, blocking, threads: Threads::Team });
                            }
                        }
                    }
                }
            }
        });
    }
}

#[test]
fn a_team_gives_the_same_bits_as_one_thread() {
    // Each tile is summed in the same order whichever thread sweeps it (what keeps transfer's
    // feature cache exact).
    for isa in available() {
        let s = spec(1, 257, 300, 784, false, true, false);
        let (a, b) = (values(s.m * s.k, 1), values(s.k * s.n, 2));
        let run = |threads| {
            let mut out = vec![0.0; s.m * s.n];
            gemm_with(&a, &b, Epilogue::default(), &mut out, s, Config { isa, blocking: None, threads });
            out
        };
        let single = run(Threads::Single);
        for _ in 0..3 {
            assert!(run(Threads::Team) == single, "{isa:?}");
        }
    }
}

#[test]
fn products_with_many_rows_split_by_rows_run_as_teams() {
    use kernel_avx512::Avx512;
    let share = |m: usize, n: usize| {
        let a: &'static [f32] = Vec::leak(vec![0.0; m * 4]);
        let b: &'static [f32] = Vec::leak(vec![0.0; 4 * n]);
        Share {
            a: MatRef { data: a, ld: 4, trans: false },
            b: MatRef { data: b, ld: n, trans: false },
            epi: Epilogue::default(),
            out: OutPtr(std::ptr::null_mut()),
            ldc: n,
            m,
            n,
        }
    };
    // The batch-256 layer forward and a 1024² product: rows split, and enough A panels.
    assert!(team::worth_it::<Avx512>(share(256, 300), 2));
    assert!(team::worth_it::<Avx512>(share(1024, 1024), 2));
    // Too few panels per thread, a single thread, and a product the split cuts by columns.
    assert!(!team::worth_it::<Avx512>(share(120, 300), 2));
    assert!(!team::worth_it::<Avx512>(share(1024, 1024), 1));
    assert!(!team::worth_it::<Avx512>(share(300, 784), 2));
}
