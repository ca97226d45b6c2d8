"""Keras reference for graft's transfer demo: the two baselines of the Keras transfer-learning
recipe (Geron, Hands-On Machine Learning, 3rd ed., ch. 11), measured with Keras 3 on JAX (CPU).

What it measures, per seed (keras.utils.set_random_seed(seed) before building each model):

* Model A: Fashion-MNIST official training split restricted to classes [1,3,4,5,6,7,8,9],
  labels renumbered 0..7 in that order (48,000 images), pixels / 255,
  `validation_split=0.1` (Keras holds out the last 10%, before shuffling).
  Sequential([Input((28,28)), Flatten(), 3 x Dense(100, relu, he_normal), Dense(8, softmax)]),
  sparse_categorical_crossentropy, SGD(learning_rate=1e-3) (no momentum), batch 32, 20 epochs,
  shuffle=True (Keras default). Reports accuracy on the official test split restricted to the
  same 8 classes (8,000 images; argmax), the final epoch's validation accuracy, and the wall
  time of `fit` (includes JAX compilation).
* B from scratch: graft's task B (data/demo/taskb-{train,val,test}-*.idx.gz; T-shirt/top = 0,
  pullover = 1; 200 train, 1000 val passed as validation_data, 2000 test), pixels / 255.
  Same trunk, Dense(1, sigmoid), binary_crossentropy, SGD lr 1e-3, batch 32, 20 epochs.
  Reports test accuracy (prediction > 0.5), final validation accuracy, fit wall time.

Prints per-seed rows and mean +- sample standard deviation per task, the Keras / JAX / NumPy
versions and CPU thread settings; `--json PATH` also writes everything as JSON.

Install:  python3 -m venv v && v/bin/pip install keras "jax[cpu]" numpy
Run:      KERAS_BACKEND=jax v/bin/python benches/reference/keras_fashion.py \
              [--seeds 1,2,3,4,5] [--only a|b] [--json out.json] \
              [--fashion /usr/share/datasets/fashion-mnist] [--demo data/demo]
Reads the IDX files with gzip + numpy only; no other dependencies.
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
A_CLASSES = [1, 3, 4, 5, 6, 7, 8, 9]
EPOCHS = 20
BATCH = 32
LR = 1e-3


def read_idx(path):
    """Parses a (gzipped) IDX file: magic 0x0000 <dtype> <ndim>, ndim big-endian u32 dims, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = np.dtype(dtypes[raw[2]])
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} values for dims {dims}")
    return data.reshape(dims)


def load_task_a(fashion_dir):
    def split(prefix):
        x = read_idx(os.path.join(fashion_dir, f"{prefix}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(fashion_dir, f"{prefix}-labels-idx1-ubyte.gz"))
        keep = np.isin(y, A_CLASSES)
        remap = np.full(10, -1, dtype=np.int64)
        remap[A_CLASSES] = np.arange(len(A_CLASSES))
        return (x[keep].astype(np.float32) / 255.0), remap[y[keep]].astype(np.int64)

    return split("train"), split("t10k")


def load_task_b(demo_dir):
    def split(name):
        x = read_idx(os.path.join(demo_dir, f"taskb-{name}-images.idx.gz"))
        y = read_idx(os.path.join(demo_dir, f"taskb-{name}-labels.idx.gz"))
        assert set(np.unique(y).tolist()) <= {0, 1}, f"taskb-{name}: labels {np.unique(y)}"
        return x.astype(np.float32) / 255.0, y.astype(np.float32)

    return split("train"), split("val"), split("test")


def build(keras, outputs, activation):
    layers = [keras.Input((28, 28)), keras.layers.Flatten()]
    for _ in range(3):
        layers.append(keras.layers.Dense(100, activation="relu", kernel_initializer="he_normal"))
    layers.append(keras.layers.Dense(outputs, activation=activation))
    return keras.Sequential(layers)


def run_a(keras, seed, data):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = build(keras, len(A_CLASSES), "softmax")
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.SGD(learning_rate=LR), metrics=["accuracy"])
    t = time.perf_counter()
    hist = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, validation_split=0.1,
                     shuffle=True, verbose=0)
    fit_s = time.perf_counter() - t
    pred = model.predict(x_test, batch_size=1000, verbose=0)
    test_acc = float(np.mean(np.argmax(pred, axis=1) == y_test))
    return {
        "seed": seed, "test_acc": test_acc, "val_acc": float(hist.history["val_accuracy"][-1]),
        "train_acc": float(hist.history["accuracy"][-1]), "fit_s": fit_s,
        "n_train": int(round(len(x_train) * 0.9)), "n_test": int(len(x_test)),
    }


def run_b(keras, seed, data):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = build(keras, 1, "sigmoid")
    model.compile(loss="binary_crossentropy",
                  optimizer=keras.optimizers.SGD(learning_rate=LR), metrics=["accuracy"])
    t = time.perf_counter()
    hist = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH,
                     validation_data=(x_val, y_val), shuffle=True, verbose=0)
    fit_s = time.perf_counter() - t
    pred = model.predict(x_test, batch_size=1000, verbose=0)[:, 0]
    test_acc = float(np.mean((pred > 0.5) == (y_test > 0.5)))
    return {
        "seed": seed, "test_acc": test_acc, "val_acc": float(hist.history["val_accuracy"][-1]),
        "train_acc": float(hist.history["accuracy"][-1]), "fit_s": fit_s,
        "n_train": int(len(x_train)), "n_test": int(len(x_test)),
    }


def summarize(rows):
    out = {}
    for key in ["test_acc", "val_acc", "train_acc", "fit_s"]:
        vals = [r[key] for r in rows]
        out[key] = {"mean": statistics.mean(vals),
                    "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
    return out


def environment(keras, jax):
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "python": platform.python_version(), "keras": keras.__version__, "jax": jax.__version__,
        "jaxlib": getattr(__import__("jaxlib"), "__version__", "?"), "numpy": np.__version__,
        "backend": keras.backend.backend(), "devices": [str(d) for d in jax.devices()],
        "os_cpu_count": os.cpu_count(), "sched_affinity_cpus": affinity,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"), "platform": platform.platform(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--only", choices=["a", "b"])
    p.add_argument("--json")
    p.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--demo", default=os.path.join(ROOT, "data", "demo"))
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    tasks = [args.only] if args.only else ["a", "b"]

    import jax
    import keras

    t_total = time.perf_counter()
    env = environment(keras, jax)
    print(f"keras {env['keras']} (backend {env['backend']}), jax {env['jax']}, jaxlib {env['jaxlib']}, "
          f"numpy {env['numpy']}, python {env['python']}")
    print(f"devices {env['devices']}; os.cpu_count {env['os_cpu_count']}, affinity "
          f"{env['sched_affinity_cpus']} CPUs; XLA_FLAGS={env['XLA_FLAGS']!r} "
          f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']!r} OPENBLAS_NUM_THREADS={env['OPENBLAS_NUM_THREADS']!r}")
    print(f"SGD lr {LR}, no momentum, batch {BATCH}, {EPOCHS} epochs, seeds {seeds} (run one after another)")
    sys.stdout.flush()

    results = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "environment": env,
               "config": {"lr": LR, "batch": BATCH, "epochs": EPOCHS, "a_classes": A_CLASSES,
                          "seeds": seeds}, "tasks": {}}
    names = {"a": "model A (8 classes)", "b": "B from scratch"}
    for task in tasks:
        if task == "a":
            data = load_task_a(args.fashion)
            print(f"\n{names[task]}: train {len(data[0][0])} (validation_split 0.1 -> fit on "
                  f"{int(round(len(data[0][0]) * 0.9))}), test {len(data[1][0])}")
        else:
            data = load_task_b(args.demo)
            print(f"\n{names[task]}: train {len(data[0][0])}, val {len(data[1][0])}, test {len(data[2][0])}")
        print(f"{'seed':>4}  {'test acc':>9}  {'val acc':>9}  {'train acc':>9}  {'fit s':>8}")
        rows = []
        for seed in seeds:
            r = (run_a if task == "a" else run_b)(keras, seed, data)
            rows.append(r)
            print(f"{seed:>4}  {r['test_acc']:>9.4f}  {r['val_acc']:>9.4f}  {r['train_acc']:>9.4f}  {r['fit_s']:>8.1f}")
            sys.stdout.flush()
        s = summarize(rows)
        print(f"mean  {s['test_acc']['mean']:.4f} ± {s['test_acc']['std']:.4f} test, "
              f"{s['val_acc']['mean']:.4f} ± {s['val_acc']['std']:.4f} val, "
              f"{s['train_acc']['mean']:.4f} ± {s['train_acc']['std']:.4f} train, "
              f"{s['fit_s']['mean']:.1f} ± {s['fit_s']['std']:.1f} s fit (n={len(rows)}, sample std)")
        results["tasks"][task] = {"name": names[task], "runs": rows, "summary": s}

    total = time.perf_counter() - t_total
    results["total_wall_s"] = total
    print(f"\ntotal wall time {total:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
