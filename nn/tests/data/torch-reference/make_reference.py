"""Reference outputs and gradients for graft's layer and optimiser tests, from PyTorch (CPU).

Run: python3 make_reference.py   (writes layers.safetensors and optim.safetensors here)
For each layer case `<name>`: inputs `<name>.x`, the layer's state (`<name>.weight`, ...),
`<name>.r` (weights of the scalar L = sum(out * r)), the output `<name>.out`, and gradients
`<name>.grad.x`, `<name>.grad.weight`, ... For batch norm in training mode, the running
statistics after the step are stored as `<name>.after.running_mean` / `.running_var`.
"""
import torch
from safetensors.torch import save_file

torch.manual_seed(0)
torch.set_default_dtype(torch.float32)
out = {}


def case(name, layer, x, train=True, int_input=False):
    layer.train(train)
    for pname, p in layer.state_dict().items():
        out[f"{name}.{pname}"] = p.detach().clone().float()
    xx = x.clone()
    if not int_input:
        xx.requires_grad_(True)
    y = layer(xx)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    out[f"{name}.x"] = x.float()
    out[f"{name}.r"] = r
    out[f"{name}.out"] = y.detach()
    if not int_input:
        out[f"{name}.grad.x"] = xx.grad
    for pname, p in layer.named_parameters():
        out[f"{name}.grad.{pname}"] = p.grad
    for bname, b in layer.named_buffers():
        out[f"{name}.after.{bname}"] = b.detach().clone().float()


nn = torch.nn
case("linear", nn.Linear(5, 3), torch.randn(4, 5))
case("linear3d", nn.Linear(4, 2), torch.randn(2, 3, 4))
case("conv", nn.Conv2d(2, 3, 3, stride=1, padding=1), torch.randn(2, 2, 5, 5))
case("conv_strided", nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 0)), torch.randn(2, 3, 7, 6))
case("maxpool", nn.MaxPool2d(2), torch.randn(2, 3, 6, 5))
case("maxpool_pad", nn.MaxPool2d(3, stride=2, padding=1), torch.randn(1, 2, 7, 7))
case("avgpool", nn.AvgPool2d(3, stride=2, padding=1), torch.randn(1, 2, 7, 6))
case("bn1d_train", nn.BatchNorm1d(3), torch.randn(6, 3) * 2 + 1)
case("bn2d_train", nn.BatchNorm2d(3), torch.randn(4, 3, 3, 3) * 3 - 1)
bn_eval = nn.BatchNorm2d(3)
with torch.no_grad():
    bn_eval.running_mean.copy_(torch.randn(3))
    bn_eval.running_var.copy_(torch.rand(3) + 0.5)
    bn_eval.weight.copy_(torch.randn(3))
    bn_eval.bias.copy_(torch.randn(3))
case("bn2d_eval", bn_eval, torch.randn(2, 3, 4, 4), train=False)
ln = nn.LayerNorm(6)
with torch.no_grad():
    ln.weight.copy_(torch.randn(6))
    ln.bias.copy_(torch.randn(6))
case("layernorm", ln, torch.randn(3, 2, 6) * 2)
case("gelu", nn.GELU(), torch.randn(3, 7) * 3)
case("leakyrelu", nn.LeakyReLU(0.1), torch.randn(4, 5))
case("softmax", nn.Softmax(dim=1), torch.randn(3, 4, 2))
case("sigmoid", nn.Sigmoid(), torch.randn(10) * 4)
case("tanh", nn.Tanh(), torch.randn(10) * 2)
emb = nn.Embedding(7, 3)
case("embedding", emb, torch.tensor([[1, 6, 1], [0, 2, 3]]), int_input=True)
save_file({k: v.contiguous() for k, v in out.items()}, "layers.safetensors")

# Optimisers: minimise sum((p - t)^2) for a few steps; store p after each step.
opt_out = {}
p0 = torch.randn(5)
target = torch.randn(5)
opt_out["p0"] = p0.clone()
opt_out["target"] = target.clone()
configs = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd_nesterov_wd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.1),
    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
}
for name, make in configs.items():
    p = p0.clone().requires_grad_(True)
    opt = make([p])
    traj = []
    for _ in range(5):
        opt.zero_grad()
        ((p - target) ** 2).sum().backward()
        opt.step()
        traj.append(p.detach().clone())
    opt_out[name] = torch.stack(traj)
save_file(opt_out, "optim.safetensors")
print("wrote", len(out), "layer tensors and", len(opt_out), "optimiser tensors")
