"""PyTorch's time for benches/mobilenet.rs: torchvision's MobileNetV2, batch 32 at 96 x 96, CPU.

    python3 benches/reference/mobilenet_pytorch.py [models/mobilenet_v2/mobilenet_v2-b0353104.pth]

Times (medians over repeated runs, after warm-up) one eval-mode forward of the whole ImageNet
model (no_grad), and one fine-tuning step (SGD) with only the top two feature blocks
(features.17, features.18) and a new 10-way head trainable, the frozen blocks in eval mode (as
graft runs frozen BatchNorm). Uses 2 threads, as graft on the 2-core development machine.
Needs torch and torchvision (CPU).
"""

import statistics
import sys
import time

import torch
import torchvision

BATCH, SIDE = 32, 96


def median_ms(fn, warmup=3, runs=15):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(path):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(path, weights_only=True))
    x = torch.randn(BATCH, 3, SIDE, SIDE)
    model.eval()
    with torch.no_grad():
        fwd = median_ms(lambda: model(x))

    features = model.features
    head = torch.nn.Linear(1280, 10)
    for name, p in features.named_parameters():
        p.requires_grad_(name.startswith(("17.", "18.")))
    features.eval()
    features[17].train()
    features[18].train()
    params = [p for p in features.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.SGD(params, lr=1e-3)
    labels = torch.arange(BATCH) % 10

    def step():
        opt.zero_grad()
        pooled = torch.nn.functional.adaptive_avg_pool2d(features(x), 1).flatten(1)
        loss = torch.nn.functional.cross_entropy(head(pooled), labels)
        loss.backward()
        opt.step()

    ft = median_ms(step)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} at {SIDE}x{SIDE}")
    print(f"mobilenet_v2 forward (logits): median {fwd:.1f} ms")
    print(f"mobilenet_v2 fine-tuning step, top 2 blocks + head: median {ft:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/mobilenet_v2/mobilenet_v2-b0353104.pth")
