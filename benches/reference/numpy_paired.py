"""NumPy's sgemm against graft's, alternated round by round (square sizes 512, 1024, 2048).

Run: python3 benches/reference/numpy_paired.py   (from the repository root; builds and starts
`cargo run --release --example matmul_timer`). Leave `OPENBLAS_CORETYPE` and `OPENBLAS_L2_SIZE`
unset for NumPy's own choice of kernel.

On a shared machine whose speed drifts by tens of percent over minutes, NumPy measured in one
minute and graft in another can land in different weather (see BENCHMARKS.md). Here each round
times NumPy in this process and graft in the timer process, back to back in alternating order,
each for about the same time, with a pause between them so that neither library's idle
threads (OpenBLAS spins for a while after a call) eat into the other's turn. Prints per size
each library's median GFLOP/s over the rounds, and the median and range of the per-round
ratio graft / NumPy.
"""

import os
import statistics
import subprocess
import time

import numpy as np

ROUNDS = 15
TARGET_SECONDS = 0.25
PAUSE_SECONDS = 0.2


def numpy_seconds(a, b, reps):
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return time.perf_counter() - start


def main():
    timer = subprocess.Popen(
        ["cargo", "run", "--quiet", "--release", "--example", "matmul_timer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def graft_seconds(n, reps):
        timer.stdin.write(f"{n} {reps}\n")
        timer.stdin.flush()
        line = timer.stdout.readline()
        if not line:
            raise SystemExit("matmul_timer stopped without an answer (see its message above)")
        return float(line)

    print(
        f"numpy {np.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}; "
        f"GFLOP/s medians of {ROUNDS} rounds; graft/numpy: median per-round ratio [min, max]"
    )
    for n in [512, 1024, 2048]:
        rng = np.random.default_rng(n)
        a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
        flop = 2 * n**3
        numpy_seconds(a, b, 3)
        graft_seconds(n, 3)
        reps = max(1, round(TARGET_SECONDS / numpy_seconds(a, b, 1)))
        rates = {"numpy": [], "graft": []}
        for r in range(ROUNDS):
            order = ["numpy", "graft"] if r % 2 == 0 else ["graft", "numpy"]
            for lib in order:
                time.sleep(PAUSE_SECONDS)
                s = numpy_seconds(a, b, reps) if lib == "numpy" else graft_seconds(n, reps)
                rates[lib].append(flop * reps / s / 1e9)
        ratios = [g / x for g, x in zip(rates["graft"], rates["numpy"])]
        print(
            f"{n}: numpy {statistics.median(rates['numpy']):.1f} graft {statistics.median(rates['graft']):.1f} "
            f"| graft/numpy {statistics.median(ratios):.3f} [{min(ratios):.2f}, {max(ratios):.2f}]",
            flush=True,
        )
    timer.stdin.close()
    timer.wait()


if __name__ == "__main__":
    main()
