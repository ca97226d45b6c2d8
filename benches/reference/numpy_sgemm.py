"""NumPy sgemm GFLOP/s for square sizes 64…2048 (medians), next to `cargo bench --bench matmul -- square`.

Run as `python3 benches/reference/numpy_sgemm.py`. For the AVX2 comparison in BENCHMARKS.md it
runs with `OPENBLAS_CORETYPE=Haswell`, which makes NumPy's OpenBLAS use its AVX2 + FMA kernels.
"""

import os
import time

import numpy as np


def median_time(fn, reps):
    for _ in range(5):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


print(f"numpy {np.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
for n in [64, 128, 256, 512, 1024, 2048]:
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    t = median_time(lambda: a @ b, max(5, int(2e9 / (2 * n**3))))
    print(f"{n}: {2 * n**3 / t / 1e9:.1f} GFLOP/s")
