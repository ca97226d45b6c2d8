"""Reference timings measured beside graft's criterion benches on the same machine.

Run: python3 benches/reference/pytorch_reference.py
Prints medians for: NumPy (OpenBLAS) and PyTorch sgemm at 512/1024/2048; SGD training steps/s of
an MLP 784-300-100-10 (ReLU, softmax cross-entropy) at batch 32 and 256, all trainable, with
the first two layers frozen, and the head alone on cached features; the transfer demo's model A
(784-100-100-100-8, batch 32); and the convnet 1x28x28 -> conv3x3 32 -> ReLU -> maxpool2 ->
conv3x3 64 -> ReLU -> maxpool2 -> linear 10 at batch 64. Batches follow benches/ops.rs: 64
random batches with random labels, cycled.
"""
import time
import numpy as np
import torch

torch.manual_seed(0)


def median_time(fn, reps, warmup=20):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, numpy {np.__version__}")
for n in [512, 1024, 2048]:
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    t = median_time(lambda: a @ b, 10 if n == 2048 else 30, 3)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    tt = median_time(lambda: ta @ tb, 10 if n == 2048 else 30, 3)
    print(f"sgemm {n}: numpy {2*n**3/t/1e9:.1f} GFLOP/s, torch {2*n**3/tt/1e9:.1f} GFLOP/s")


BATCHES = 64


def batches(shape, classes):
    """Random batches with random labels, cycled like a small dataset (the protocol of
    benches/ops.rs): training on one fixed batch would drive gradients into subnormal floats."""
    data = [(torch.randn(*shape), torch.randint(0, classes, (shape[0],))) for _ in range(BATCHES)]
    state = {"i": 0}

    def next_batch():
        x, y = data[state["i"] % BATCHES]
        state["i"] += 1
        return x, y

    return next_batch


def steps_per_second(model, params, next_batch, reps=300, warmup=20):
    opt = torch.optim.SGD(params, lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        x, y = next_batch()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return 1.0 / median_time(step, reps, warmup)


def mlp(frozen, batch):
    layers = [torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)]
    model = torch.nn.Sequential(*layers)
    for layer in [layers[0], layers[2]][:frozen]:
        for p in layer.parameters():
            p.requires_grad_(False)
    return steps_per_second(model, [p for p in model.parameters() if p.requires_grad], batches((batch, 784), 10))


def mlp_head_on_cached_features(batch):
    trunk = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU())
    head = torch.nn.Linear(100, 10)
    raw = batches((batch, 784), 10)
    with torch.no_grad():
        cached = [(trunk(x), y) for x, y in (raw() for _ in range(BATCHES))]
    state = {"i": 0}

    def next_batch():
        state["i"] += 1
        return cached[state["i"] % BATCHES]

    return steps_per_second(head, head.parameters(), next_batch)


for batch in [32, 256]:
    print(
        f"mlp 784-300-100-10 batch {batch}: all trainable {mlp(0, batch):.0f} steps/s, "
        f"first two frozen {mlp(2, batch):.0f} steps/s, head on cached features {mlp_head_on_cached_features(batch):.0f} steps/s"
    )

model_a = torch.nn.Sequential(
    torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100), torch.nn.ReLU(),
    torch.nn.Linear(100, 100), torch.nn.ReLU(), torch.nn.Linear(100, 8),
)
print(f"model A 784-100-100-100-8 batch 32: {steps_per_second(model_a, model_a.parameters(), batches((32, 784), 8)):.0f} steps/s")

conv = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(64 * 5 * 5, 10),
)
print(f"convnet batch 64: {steps_per_second(conv, conv.parameters(), batches((64, 1, 28, 28), 10), 60, 5):.1f} steps/s")
