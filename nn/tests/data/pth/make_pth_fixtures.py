"""Writes the PyTorch fixtures of graft's `.pth` reader (nn/tests/pth_files.rs).

Run from this folder with CPU PyTorch installed (made with torch 2.15):

    python3 make_pth_fixtures.py

Every file is a few KB. `expected.json` holds, for each fixture, the list of its tensors in the
state dict's order, each with its name, dtype, shape and values in row-major order (floats as exact decimal forms of their f32/f64 values, integers and
booleans as numbers), so the Rust tests compare each value exactly without Python.
"""

import io
import json
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = {}


def record(name, sd):
    """Remembers what `name` holds, as the Rust tests expect to read it."""
    out = []
    for k, t in sd.items():
        t = t.detach()
        flat = t.contiguous().reshape(-1)
        if t.dtype in (torch.float16, torch.bfloat16):
            values = flat.to(torch.float32).tolist()
        elif t.dtype == torch.bool:
            values = [int(v) for v in flat.tolist()]
        else:
            values = flat.tolist()
        out.append({"name": k, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": values})
    EXPECTED[name] = out


def save(name, sd, **kwargs):
    path = os.path.join(HERE, name)
    torch.save(sd, path, **kwargs)
    record(name, sd)
    return path


def cnn():
    """The small CNN of graft's fuzz spec, with batch-norm statistics from three training steps."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        OrderedDict(
            features=torch.nn.Sequential(
                torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.MaxPool2d(2)
            ),
            flatten=torch.nn.Flatten(),
            classifier=torch.nn.Sequential(torch.nn.Linear(16, 2)),
        )
    )
    for _ in range(3):
        model(torch.randn(5, 1, 4, 4))
    model.eval()
    x = torch.randn(2, 1, 4, 4)
    with torch.no_grad():
        y = model(x)
    EXPECTED["cnn_forward"] = {"input": x.reshape(-1).tolist(), "output": y.reshape(-1).tolist()}
    return model.state_dict()


def views():
    """Tensors that are not contiguous, or that share one storage at an offset."""
    torch.manual_seed(1)
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8
    big = torch.randn(20)
    m = torch.randn(4, 5)
    col = torch.randn(3, 1)
    return OrderedDict(
        base=base,
        transposed=base.t(),  # stride (1, 4), same storage as `base`
        slice=big[5:11],  # offset 5 into a 20-element storage
        block=m[1:3, 2:5],  # offset 7, stride (5, 1)
        stepped=big[::3],  # stride 3
        expanded=col.expand(3, 4),  # stride (1, 0)
        param=torch.nn.Parameter(torch.randn(2, 3)),  # saved through torch._utils._rebuild_parameter
        scalar=torch.tensor(3.5),
        empty=torch.zeros(0, 3),
    )


def dtypes():
    """One tensor per storage type graft reads, with values at the edges of each type."""
    return OrderedDict(
        f32=torch.tensor([1.5, -0.0, 3.4e38, 1e-45], dtype=torch.float32),
        f16=torch.tensor([1.0, -2.5, 65504.0, 6e-8, 0.333], dtype=torch.float16),
        bf16=torch.tensor([1.0, -3.0e38, 0.1, 7.0], dtype=torch.bfloat16),
        f64=torch.tensor([0.1, -1e300, 2.0**-1074], dtype=torch.float64),
        i64=torch.tensor([[0, -1], [2**40 + 1, -(2**62)]], dtype=torch.int64),
        i32=torch.tensor([-(2**31), 2**31 - 1, 5], dtype=torch.int32),
        i16=torch.tensor([-32768, 32767], dtype=torch.int16),
        i8=torch.tensor([-128, 127, 0], dtype=torch.int8),
        u8=torch.tensor([0, 255, 7], dtype=torch.uint8),
        bool=torch.tensor([True, False, True]),
    )


def deflated(src, dst):
    """`src` re-zipped with every entry deflated (PyTorch itself stores them)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


class Call:
    """Pickles as a call of `fn(*args)`: what a malicious file asks the unpickler to run."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def evil_zip(name, payload):
    with zipfile.ZipFile(os.path.join(HERE, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
        z.writestr("archive/version", "3\n")


def evil_legacy(name, payload):
    with open(os.path.join(HERE, name), "wb") as f:
        pickle.dump(0x1950A86A20F9469CFC6C, f, protocol=2)
        pickle.dump(1001, f, protocol=2)
        pickle.dump(dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4)), f)
        pickle.dump(payload, f, protocol=2)
        pickle.dump([], f, protocol=2)


def main():
    sd = cnn()
    save("cnn_zip.pth", sd)
    save("cnn_legacy.pth", sd, _use_new_zipfile_serialization=False)
    deflated(os.path.join(HERE, "cnn_zip.pth"), os.path.join(HERE, "cnn_deflated.pth"))
    EXPECTED["cnn_deflated.pth"] = EXPECTED["cnn_zip.pth"]
    v = views()
    save("views_zip.pt", v)
    save("views_legacy.pt", v, _use_new_zipfile_serialization=False)
    d = dtypes()
    save("dtypes_zip.pt", d, pickle_protocol=4)  # protocol 4: FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL
    save("dtypes_legacy.pt", d, _use_new_zipfile_serialization=False, pickle_protocol=4)
    # A training checkpoint, not a state dict: refused with the fix.
    torch.save({"epoch": 3, "state_dict": OrderedDict(w=torch.ones(2))}, os.path.join(HERE, "checkpoint.pth"))
    # Files that would run code in a plain torch.load(weights_only=False).
    evil_zip("evil_os_system.pth", Call(os.system, "echo pwned"))
    evil_legacy("evil_eval_legacy.pt", Call(eval, "print('pwned')"))
    # The refused call hidden as one value of an otherwise plain state dict.
    evil_zip("evil_nested.pth", OrderedDict(w=Call(os.system, "echo pwned")))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(EXPECTED, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
