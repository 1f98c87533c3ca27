"""The Keras peer: an idiomatic Keras 3 `model.fit` (TensorFlow backend) of the study's three models.

Runs inside benchmarks/.keras-venv (made by benchmarks/keras_env.py), never imports mnistlab, and reads its
data from an .npz written by the harness: x_train/x_test uint8 (N, 28, 28), y_train/y_test int (N,).
One invocation = one trial in a fresh process, so TensorFlow state never leaks between trials.

  throughput: fit(epochs=1 + timed_epochs) on the first `images` training images, batch 128; the first epoch
              (tracing, XLA compilation) is warm-up, the rest are timed.
  tta:        fit on all training images, test accuracy after every epoch (validation_data), stop at `target`.
Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off our stdout

import keras
import numpy as np
from keras import layers


def build(name: str, policy: str) -> keras.Model:
    """The same architectures as mnistlab.models (parameter counts are checked by the caller).
    Keras is channels-last: input (B, 28, 28, 1); 'same' padding is Keras's own."""
    keras.mixed_precision.set_global_policy(policy)
    relu = {"activation": "relu"}
    if name == "mlp_3_1":
        body = [layers.Flatten(), layers.Dense(1000, **relu), layers.Dense(1000, **relu)]
    elif name == "cnn_4_1":
        body = [layers.Conv2D(32, 4, strides=1, padding="same", **relu),
                layers.Conv2D(64, 4, strides=2, padding="same", **relu),
                layers.Conv2D(128, 4, strides=2, padding="same", **relu), layers.Flatten()]
    elif name == "fashion_items":
        body = [layers.Conv2D(32, 3, padding="same", **relu), layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, padding="same", **relu), layers.MaxPooling2D(2),
                layers.Conv2D(128, 3, padding="same", **relu), layers.Flatten(),
                layers.Dense(3136, **relu), layers.Dense(1024, **relu), layers.Dense(100, **relu)]
    else:
        raise SystemExit(f"keras_peer: unknown model {name!r}")
    # softmax kept in float32 under mixed precision, as the Keras mixed-precision guide advises
    out = layers.Dense(10, activation="softmax", dtype="float32")
    model = keras.Sequential([keras.Input((28, 28, 1)), *body, out])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class EpochClock(keras.callbacks.Callback):
    """Wall and CPU time of every epoch; in tta mode also stops once test accuracy reaches the target."""

    def __init__(self, target: float | None) -> None:
        super().__init__()
        self.target, self.rows, self.t_start = target, [], 0.0

    def on_train_begin(self, logs=None) -> None:
        self.t_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.t0, self.c0 = time.perf_counter(), _cpu_s()

    def on_epoch_end(self, epoch, logs=None) -> None:
        now = time.perf_counter()
        row = {"epoch": epoch + 1, "epoch_s": now - self.t0, "cpu_s": _cpu_s() - self.c0,
               "elapsed_s": now - self.t_start, "train_acc": float(logs.get("accuracy", float("nan")))}
        if "val_accuracy" in logs:
            row["test_acc"] = float(logs["val_accuracy"])
        self.rows.append(row)
        if self.target is not None and row.get("test_acc", 0.0) >= self.target:
            self.model.stop_training = True


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _threads() -> int:
    """Threads TensorFlow computes with: TF_NUM_INTRAOP_THREADS if set, else every core it may use."""
    return int(os.environ.get("TF_NUM_INTRAOP_THREADS") or len(os.sched_getaffinity(0)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=("throughput", "tta"), default="throughput")
    ap.add_argument("--images", type=int, default=12800, help="throughput: training images per epoch")
    ap.add_argument("--timed-epochs", type=int, default=1)
    ap.add_argument("--target", type=float, default=None, help="tta: test accuracy to reach")
    ap.add_argument("--max-epochs", type=int, default=15)
    ap.add_argument("--policy", default="float32", help="float32 | mixed_bfloat16")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    keras.utils.set_random_seed(a.seed)
    d = np.load(a.data)
    # idiomatic Keras preprocessing: float32 in [0, 1] with a trailing channel axis, (N, 28, 28, 1)
    x = (d["x_train"].astype("float32") / 255.0)[..., None]
    y = d["y_train"].astype("int64")
    xt, yt = (d["x_test"].astype("float32") / 255.0)[..., None], d["y_test"].astype("int64")
    model = build(a.model, a.policy)
    clock = EpochClock(a.target if a.mode == "tta" else None)
    t0 = time.perf_counter()
    if a.mode == "throughput":
        n = min(a.images, len(x))
        model.fit(x[:n], y[:n], batch_size=128, epochs=1 + a.timed_epochs, shuffle=True, verbose=0,
                  callbacks=[clock])
        timed = clock.rows[1:]
        result = {"images_per_s": n * len(timed) / sum(r["epoch_s"] for r in timed),
                  "epoch_s": statistics.median(r["epoch_s"] for r in timed), "images": n,
                  "cpu_util": sum(r["cpu_s"] for r in timed) / sum(r["epoch_s"] for r in timed) / _threads(),
                  "warmup_s": clock.rows[0]["epoch_s"],
                  "test_acc": float(model.evaluate(xt, yt, batch_size=1000, verbose=0)[1])}
    else:
        model.fit(x, y, batch_size=128, epochs=a.max_epochs, shuffle=True, verbose=0,
                  validation_data=(xt, yt), callbacks=[clock])
        hit = next((r for r in clock.rows if r.get("test_acc", 0.0) >= a.target), None)
        result = {"reached": hit is not None, "seconds": hit["elapsed_s"] if hit else None,
                  "epochs": hit["epoch"] if hit else None, "best_acc": max(r["test_acc"] for r in clock.rows)}
    import tensorflow as tf

    result.update(framework=f"keras {keras.__version__} / tensorflow {tf.__version__}", policy=a.policy,
                  params=int(model.count_params()), jit_compile=bool(model.jit_compile), rows=clock.rows,
                  wall_s=time.perf_counter() - t0, gpu=bool(tf.config.list_physical_devices("GPU")),
                  intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
