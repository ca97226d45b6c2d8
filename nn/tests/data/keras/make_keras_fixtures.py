"""Builds the Keras fixtures of nn/tests/keras_files.rs.

Run from this directory with Keras 3 on the JAX backend and NumPy:

    KERAS_BACKEND=jax python make_keras_fixtures.py

Every model is a real keras.Sequential, seeded; its weights are replaced by seeded random
values (so biases and batch-norm statistics are not zeros and ones), exported as
`{v.path: v.numpy()}` to .safetensors, and Keras' own `model.predict` on fixed inputs is saved
as the reference. The .safetensors bytes are written by hand (no safetensors package needed):
8-byte little-endian header length, JSON header (dtype, shape, data_offsets), raw
little-endian data.
"""

import json
import os
import struct

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def save_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> float32 array) as a .safetensors file, names sorted."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


META = {"source": f"keras {keras.__version__} ({keras.backend.backend()})", "generator": "make_keras_fixtures.py"}


def randomize(model, rng):
    """Seeded random weights; variances kept positive."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for v, w in zip(layer.weights, ws):
            r = rng.normal(0.0, 0.5, size=w.shape).astype("float32")
            if v.path.endswith("moving_variance"):
                r = rng.uniform(0.5, 2.0, size=w.shape).astype("float32")
            new.append(r)
        layer.set_weights(new)


def export(model, variables=False):
    vs = model.variables if variables else model.weights
    return {v.path: np.asarray(v.numpy(), dtype="float32") for v in vs}


def main():
    keras.utils.set_random_seed(1234)
    rng = np.random.default_rng(1234)
    refs = {}

    # 1. An MLP of square 6x6 kernels: an untransposed square kernel changes the outputs.
    mlp = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    randomize(mlp, rng)
    x = rng.normal(size=(5, 4)).astype("float32")
    refs["mlp_x"] = x
    refs["mlp_y"] = mlp.predict(x, verbose=0)
    weights = export(mlp)
    save_safetensors("mlp_square.safetensors", weights, META)

    # The same weights under graft names, kernels still Keras' [in, out].
    graft_names = {}
    for i, layer in enumerate(mlp.layers):
        graft_names[f"{2 * i}.weight"] = weights[layer.kernel.path]
        graft_names[f"{2 * i}.bias"] = weights[layer.bias.path]
    save_safetensors("mlp_graft_names_keras_kernels.safetensors", graft_names, META)

    # 2. Conv2D + BatchNormalization + Dropout + Dense, exported from model.variables (so the
    #    dropout seed state is in the file). Keras runs NHWC; graft gets the inputs as NCHW.
    #    Name counters continue: the Dense layer is dense_4.
    cnn = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(4, (3, 2)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(2),
        ]
    )
    randomize(cnn, rng)
    x = rng.normal(size=(3, 6, 6, 2)).astype("float32")
    refs["cnn_x_nhwc"] = x
    refs["cnn_y"] = cnn.predict(x, verbose=0)
    save_safetensors("cnn_bn.safetensors", export(cnn, variables=True), META)

    # 3. Custom layer names, Keras 2 style `:0` suffixes, no model prefix.
    custom = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, activation="relu", name="hidden1"),
            keras.layers.Dense(3, name="output"),
        ]
    )
    randomize(custom, rng)
    x = rng.normal(size=(4, 4)).astype("float32")
    refs["custom_x"] = x
    refs["custom_y"] = custom.predict(x, verbose=0)
    named = {}
    for layer in custom.layers:
        named[f"{layer.name}/kernel:0"] = layer.kernel.numpy()
        named[f"{layer.name}/bias:0"] = layer.bias.numpy()
    save_safetensors("custom_names.safetensors", named, META)

    save_safetensors("keras_outputs.safetensors", refs, META)
    for f in sorted(os.listdir(HERE)):
        if f.endswith(".safetensors"):
            print(f, os.path.getsize(os.path.join(HERE, f)), "bytes")


if __name__ == "__main__":
    main()
