"""Makes the MobileNetV2 parity fixture: 8 Fashion-MNIST test images, resized to 64 x 64
(bilinear, align_corners=False), grey copied to 3 channels, ImageNet-normalised, and the
logits torchvision's mobilenet_v2 (mobilenet_v2-b0353104.pth, eval mode) gives for them.

    bash scripts/fetch-mobilenet.sh
    python3 nn/tests/data/mobilenet/make_fixture.py

Needs torch, torchvision, numpy and the Debian package dataset-fashion-mnist.
"""

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

here = Path(__file__).parent
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:8]
x = torch.from_numpy(images.astype(np.float32) / 255.0)
x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
x = ((x - mean) / std).contiguous()
model = torchvision.models.mobilenet_v2()
model.load_state_dict(torch.load("models/mobilenet_v2/mobilenet_v2-b0353104.pth", weights_only=True))
model.eval()
with torch.no_grad():
    logits = model(x)
np.save(here / "inputs.npy", x.numpy().astype(np.float32))
np.save(here / "logits.npy", logits.numpy().astype(np.float32))
print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: logits {tuple(logits.shape)}, "
      f"top-1 {logits.argmax(1).tolist()}")
