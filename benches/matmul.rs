//! Matmul throughput (GFLOP/s) of graft's packed GEMM next to the `gemm` crate (with `x86-v4`)
//! and `matrixmultiply`, measured in the same run on the same inputs.
//!
//! Run: `cargo bench --bench matmul` (add `-- square` or `-- training` to filter). Criterion
//! reports "elem/s" with 2·m·n·k elements per product, i.e. FLOP/s. Every library uses all
//! threads of the machine (rayon's global pool for graft and `gemm`, `matrixmultiply`'s own
//! threading), so `RAYON_NUM_THREADS` / `MATMUL_NUM_THREADS` set the thread count.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[path = "common/gemm_libs.rs"]
mod gemm_libs;
use gemm_libs::{data, square_shapes, training_shapes, Shape, LIBRARIES};

fn run(c: &mut Criterion, group_name: &str, shapes: &[Shape]) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10).warm_up_time(std::time::Duration::from_millis(300));
    group.measurement_time(std::time::Duration::from_millis(1500));
    for &s in shapes {
        let a = data(s.m * s.k, 1);
        let b = data(s.k * s.n, 2);
        let mut out = vec![0.0f32; s.m * s.n];
        group.throughput(Throughput::Elements(2 * (s.m * s.n * s.k) as u64));
        for (lib, f) in LIBRARIES {
            group
                .bench_with_input(BenchmarkId::new(lib, s.name), &(), |bench, _| bench.iter(|| f(s, &a, &b, &mut out)));
        }
    }
    group.finish();
}

fn square(c: &mut Criterion) {
    run(c, "matmul_square", &square_shapes());
}

fn training(c: &mut Criterion) {
    run(c, "matmul_training_b32", &training_shapes(32));
    run(c, "matmul_training_b256", &training_shapes(256));
}

criterion_group!(benches, square, training);
criterion_main!(benches);
