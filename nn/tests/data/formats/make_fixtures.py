"""Generates the fixtures read by nn/tests/formats.rs. Run from this folder: python3 make_fixtures.py

Needs NumPy (tested with 2.4). The tests themselves do not need Python: the generated files are committed.
The expected values are recomputed by formula in the Rust test, so keep the two in sync.
"""
import gzip
import struct

import numpy as np

i = np.arange(12)
SHAPE = (3, 4)

# dtype code -> values (before the cast); the Rust test recomputes the same formulas.
VALUES = {
    "b1": i % 3 == 0,
    "u1": i * 20 + 3,
    "u2": i * 5000,
    "u4": i.astype(np.uint64) * 300_000_000,
    "u8": i.astype(np.uint64) * 1_500_000_000_000_000_000,
    "i1": (i - 6) * 20,
    "i2": (i - 6) * 5000,
    "i4": (i - 6) * 300_000_000,
    "i8": (i - 6) * 1_500_000_000_000_000_000,
    "f2": (i - 5.5) * 0.25,
    "f4": (i - 5.5) * 0.1,
    "f8": (i - 5.5) * 0.1,
}

for code, values in VALUES.items():
    if code in ("b1", "u1", "i1"):
        np.save(f"{code}.npy", values.astype("|" + code).reshape(SHAPE))
    else:
        np.save(f"{code}_le.npy", values.astype("<" + code).reshape(SHAPE))
        np.save(f"{code}_be.npy", values.astype(">" + code).reshape(SHAPE))

# Fortran order, little and big endian; the Rust test expects row-major arange.
np.save("fortran_i4.npy", np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)))
np.save("fortran_f8_be.npy", np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3)))
assert open("fortran_i4.npy", "rb").read().find(b"'fortran_order': True") > 0

np.save("scalar_f8.npy", np.array(3.5))
np.save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
np.save("f16_special.npy", np.array([0.0, -0.0, 1.0, 65504.0, 2.0**-24, np.inf, -np.inf, np.nan], dtype="<f2"))
for version in [(2, 0), (3, 0)]:
    with open(f"v{version[0]}_f4.npy", "wb") as f:
        np.lib.format.write_array(f, VALUES["f4"].astype("<f4").reshape(SHAPE), version=version)

# Arrays these readers refuse with an error.
np.save("object.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
np.save("complex.npy", np.zeros(3, dtype="<c8"))
np.save("structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))

# npz: stored and deflated, named and positional arrays.
x = ((np.arange(20 * 30) % 7) * 0.5).astype("<f4").reshape(20, 30)
y = np.array([0, 2, 1], dtype="<i8")
np.savez("stored.npz", np.arange(5, dtype="<i4"), x=x, y=y)
np.savez_compressed("deflated.npz", np.arange(5, dtype="<i4"), x=x, y=y)


def idx(values, code, fmt):
    header = struct.pack(">BBBB", 0, 0, code, values.ndim) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(fmt).tobytes()


IDX_TYPES = {"u1": (0x08, ">u1"), "i1": (0x09, ">i1"), "i2": (0x0B, ">i2"), "i4": (0x0C, ">i4"),
             "f4": (0x0D, ">f4"), "f8": (0x0E, ">f8")}
for code, (type_code, fmt) in IDX_TYPES.items():
    with open(f"{code}.idx", "wb") as f:
        f.write(idx(VALUES[code].reshape(SHAPE), type_code, fmt))

images = (np.arange(5 * 4 * 3) * 4).astype("u1").reshape(5, 4, 3)
labels = np.array([7, 2, 1, 0, 4], dtype="u1")
for name, array in [("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)]:
    data = idx(array, 0x08, ">u1")
    with open(name, "wb") as f:
        f.write(data)
    with open(name + ".gz", "wb") as f:
        f.write(gzip.compress(data, mtime=0))
