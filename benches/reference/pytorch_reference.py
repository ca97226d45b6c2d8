"""Reference timings measured beside graft's criterion benches on the same machine.

Run: python3 benches/reference/pytorch_reference.py
Prints medians for: NumPy (OpenBLAS) and PyTorch sgemm at 512/1024/2048; SGD training steps/s of
an MLP 784-300-100-10 (ReLU, softmax cross-entropy) at batch 32 and 256, all trainable and with
the first two layers frozen; and the convnet 1x28x28 -> conv3x3 32 -> ReLU -> maxpool2 ->
conv3x3 64 -> ReLU -> maxpool2 -> linear 10 at batch 64.
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


def mlp(frozen, batch):
    layers = [torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10)]
    model = torch.nn.Sequential(*layers)
    for layer in [layers[0], layers[2]][:frozen]:
        for p in layer.parameters():
            p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
    x = torch.randn(batch, 784)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return 1.0 / median_time(step, 300)


for batch in [32, 256]:
    print(f"mlp 784-300-100-10 batch {batch}: all trainable {mlp(0, batch):.0f} steps/s, first two frozen {mlp(2, batch):.0f} steps/s")

conv = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(64 * 5 * 5, 10),
)
opt = torch.optim.SGD(conv.parameters(), lr=0.01)
x = torch.randn(64, 1, 28, 28)
y = torch.randint(0, 10, (64,))


def conv_step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(conv(x), y).backward()
    opt.step()


print(f"convnet batch 64: {1.0 / median_time(conv_step, 60, 5):.1f} steps/s")
