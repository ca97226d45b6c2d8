"""PyTorch's CUDA twin of benches/gpu.rs, for the GPU rows of BENCHMARKS.md.

Run (on a machine with a CUDA GPU): python3 benches/reference/gpu_pytorch.py
or, with graft's bench in the same command: scripts/device/gpu-bench.sh.

Prints medians, fp32 with TF32 off (graft's WGSL kernels use no tensor cores, so neither may
the reference): square matmul `a @ b` at 64..4096 (GFLOP/s, 2·n³ per product); one SGD step
(zero_grad, forward, cross-entropy, backward, step) of the 784-300-100-10 ReLU MLP at batch 32
and 256 and of the convnet 1x28x28 -> conv3x3 32 -> ReLU -> maxpool2 -> conv3x3 64 -> ReLU ->
maxpool2 -> linear 10 at batch 64. Every timed call ends with torch.cuda.synchronize(), as every
iteration of graft's bench ends with Device::synchronize. Batches follow benches/gpu.rs: 16 random
batches with random labels, already on the GPU, cycled.
"""
import os
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
# GRAFT_REF_DEVICE=cpu runs the same code on the CPU (a smoke test of this script, not a reference).
dev = torch.device(os.environ.get("GRAFT_REF_DEVICE", "cuda"))
if dev.type == "cuda" and not torch.cuda.is_available():
    raise SystemExit("gpu_pytorch.py: torch sees no CUDA device (set GRAFT_REF_DEVICE=cpu for a smoke test)")
MAX = int(os.environ.get("GRAFT_BENCH_MATMUL_MAX", "4096"))


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


def median_time(fn, reps, warmup=10):
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
print(f"torch {torch.__version__}, {name}, allow_tf32 {torch.backends.cuda.matmul.allow_tf32}")
for n in [64, 128, 256, 512, 1024, 2048, 4096]:
    if n > MAX:
        continue
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    t = median_time(lambda: a @ b, 50)
    print(f"torch {dev.type} matmul {n}: {t * 1e6:.1f} us, {2 * n**3 / t / 1e9:.1f} GFLOP/s")

BATCHES = 16


def batches(shape, classes):
    data = [(torch.randn(*shape, device=dev), torch.randint(0, classes, (shape[0],), device=dev)) for _ in range(BATCHES)]
    state = {"i": 0}

    def next_batch():
        x, y = data[state["i"] % BATCHES]
        state["i"] += 1
        return x, y

    return next_batch


def step_time(model, next_batch, reps):
    model = model.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        x, y = next_batch()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return median_time(step, reps, 20)


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)
    )


for batch in [32, 256]:
    t = step_time(mlp(), batches((batch, 784), 10), 300)
    print(f"torch {dev.type} mlp 784-300-100-10 batch {batch} step: {t * 1e6:.1f} us")

conv = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(64 * 5 * 5, 10),
)
t = step_time(conv, batches((64, 1, 28, 28), 10), 200)
print(f"torch {dev.type} convnet batch 64 step: {t * 1e6:.1f} us")
