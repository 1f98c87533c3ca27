"""One training loop for every network. It knows a model, tensors and a `Task` (loss + accuracy), nothing else.

Speed choices (measured in benchmarks/, see docs/BENCHMARKS.md): the whole dataset lives in memory as one
tensor (no per-sample DataLoader), batches are index-selected from a seeded permutation, Adam is fused where
the device supports it, and autocast (bf16, or fp16 with a gradient scaler) is used where `precision` asks for it.
GPU hygiene: train and held-out tensors move to the device once per fit, and a training step never waits for the
device: loss, accuracy counts and the divergence check are reduced there and read once per epoch (a handful of
host reads per epoch, whatever the number of steps; tests/test_train.py counts them).
Reliability: a checkpoint after every epoch (model, optimiser, RNG, history) loaded with weights_only=True, so
a killed run resumes at the last finished epoch and ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.errors import ConfigError, TrainingDiverged
from mnistlab.hardware import (
    AMP_DTYPES,
    configure_threads,
    cpu_has_fast_bf16,
    eval_batch,
    pick_device,
    prepare_cpu,
    resolve_precision,
    use_bf16,
)
from mnistlab.log import log, progress
from mnistlab.runs import atomic_path, atomic_write_json, read_json

__all__ = ["Classification", "FitResult", "Task", "TrainSpec", "configure_threads", "cpu_has_fast_bf16", "evaluate",
           "fit", "pick_device", "predict", "resolve_precision", "safe_load", "save_state",
           "seed_everything", "to_tensors", "use_bf16"]

Tensor = torch.Tensor
SCHEDULES = ("constant", "onecycle")


class Task(Protocol):
    """What the trainer needs from a problem: a scalar loss and per-head correct counts. A count may be an int
    or a 0-d tensor; tensors are summed on the device and read once per epoch (no GPU sync per step)."""

    def loss(self, out: Any, y: Tensor) -> Tensor: ...
    def correct(self, out: Any, y: Tensor) -> dict[str, int | Tensor]: ...


class Classification:
    """Single-head classification: softmax cross-entropy on logits (B, C), labels (B,).

    label_smoothing e puts e/C of each target's probability mass on every class (Szegedy et al. 2016): a
    regulariser of the loss only, the model is unchanged."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(out.float(), y, label_smoothing=self.label_smoothing)

    def correct(self, out: Tensor, y: Tensor) -> dict[str, int | Tensor]:
        return {"acc": (out.argmax(1) == y).sum()}  # a 0-d tensor: see Task


@dataclass
class TrainSpec:
    epochs: int = 10
    batch_size: int = 128
    epoch_images: int = 0  # images per epoch: 0 = all; N = a fresh seeded draw of N of them each epoch (short budgets)
    # Training accuracy after each epoch, in eval mode, on a fixed sample of this many training images (the same
    # images for every model and epoch; 0 = off). The running mean over an epoch's batches (kept as `running_*`)
    # mixes weights from the whole epoch, so early on it lies below the test accuracy and is no train/test gap.
    train_eval: int = 10_000
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "constant"  # constant | onecycle (cosine one-cycle over all steps)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16; auto: by device, see hardware.resolve_precision
    seed: int = 0
    eval_batch: int = 256  # inference batch; 1000 ran CNN 4.1 2.2x slower on CPU (activations overflow the cache)
    label_smoothing: float = 0.0  # for the default Classification task; a custom Task brings its own loss
    # fast-path switches, measured on/off by `mnistlab bench` (docs/BENCHMARKS.md)
    fused: bool = True  # fused Adam: one kernel updates every parameter (False = PyTorch's default foreach Adam)
    channels_last: bool = False  # NHWC weights/activations for conv nets (oneDNN's native layout)
    compile: bool = False  # torch.compile the model; the first epoch pays the compile time


@dataclass
class FitResult:
    name: str
    history: list[dict[str, float]] = field(default_factory=list)  # one dict per epoch
    train_s: float = 0.0  # wall time of the training epochs (without evaluation)
    test_s: float = 0.0  # wall time of one inference pass over the test set (median over the epochs' passes)
    final: dict[str, float] = field(default_factory=dict)  # last epoch's metrics
    threads: int = 0  # torch threads used for training (CPU), see configure_threads
    train_cpu_s: float = 0.0  # CPU seconds of this process (all threads) over the training epochs
    test_cpu_s: float = 0.0  # CPU seconds of one inference pass over the test set
    precision: str = ""  # what training ran in: fp32 | bf16 | fp16 (see hardware.resolve_precision)


def make_optimizer(model: nn.Module, spec: TrainSpec, device: torch.device) -> torch.optim.Adam:
    if spec.fused:
        try:  # the fused kernel updates all parameters in one pass (CPU and CUDA in torch >= 2.4)
            return torch.optim.Adam(model.parameters(), lr=spec.lr, betas=spec.betas, fused=True)
        except (RuntimeError, TypeError):
            pass
    return torch.optim.Adam(model.parameters(), lr=spec.lr, betas=spec.betas)


def predict(model: nn.Module, x: Tensor, batch: int | None = None, bf16: bool = False,
            precision: str | None = None) -> Any:
    """Model outputs for all of x, in batches (default: sized for the model's device), without autograd, under
    `precision`'s autocast if given (fp32 | bf16 | fp16), else bf16 autocast if `bf16`. Returns a tensor or a tuple
    of tensors, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    batch = batch or eval_batch(device)
    amp = AMP_DTYPES.get(precision or ("bf16" if bf16 else "fp32"))
    outs: list[Any] = []
    with torch.inference_mode(), torch.autocast(device.type, amp or torch.bfloat16, enabled=amp is not None):
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch].to(device, non_blocking=True)))
    if isinstance(outs[0], tuple):
        return tuple(torch.cat([o[k].float() for o in outs]) for k in range(len(outs[0])))
    return torch.cat([o.float() for o in outs])


def evaluate(model: nn.Module, task: Task, x: Tensor, y: Tensor, batch: int | None = None,
             bf16: bool = False, precision: str | None = None) -> dict[str, float]:
    out = predict(model, x, batch, bf16, precision)
    y = y.to(out[0].device if isinstance(out, tuple) else out.device)
    return {k: float(v) / len(x) for k, v in task.correct(out, y).items()}


def _lr_at(spec: TrainSpec, step: int, total: int) -> float:
    if spec.schedule == "constant":
        return spec.lr
    warm = max(1, int(0.15 * total))  # one-cycle: linear warm-up, then cosine decay to ~0
    if step < warm:
        return spec.lr * (0.1 + 0.9 * step / warm)
    return spec.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def fit(model: nn.Module, train: tuple[Tensor, Tensor], spec: TrainSpec, *, name: str,
        test: tuple[Tensor, Tensor] | None = None, task: Task | None = None, out_dir: Path | None = None,
        device: str | torch.device = "auto", on_epoch: Callable[[dict[str, float]], None] | None = None,
        held_out: str = "test") -> FitResult:
    """Train `model` on train = (x (N, ...) float, y (N,) or (N, T) int64) for spec.epochs epochs.

    With `out_dir`, writes `checkpoint.pt` after each epoch, `model.pt` + `history.json` at the end, and
    TensorBoard scalars under `out_dir/tensorboard`; a finished model is loaded instead of retrained.
    `test`, if given, is evaluated after every epoch and reported under `<held_out>_<metric>` keys: "test" for
    the test split (only ever reported, never used to choose anything), "val" for a validation slice that a
    search or tuning reads."""
    if spec.schedule not in SCHEDULES:
        raise ConfigError(f"{name}: unknown schedule {spec.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if task is not None and spec.label_smoothing != getattr(task, "label_smoothing", 0.0):
        raise ConfigError(f"{name}: TrainSpec.label_smoothing is for the default task; set it on the task itself")
    task = task or Classification(spec.label_smoothing)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    precision = resolve_precision(spec.precision, dev)
    threads = torch.get_num_threads()  # the caller's choice (studies call configure_threads() first)
    if dev.type == "cpu":
        prepare_cpu()  # denormals flushed, freed memory reused: cheaper steps (see hardware.prepare_cpu)
    model.to(dev)
    if spec.channels_last:  # 4-D weights to NHWC; conv outputs then follow the weights' layout
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if spec.compile else model  # shares parameters and state_dict keys with model
    if out_dir is not None and (done := _load_finished(model, out_dir, spec, name)) is not None:
        return done
    opt = make_optimizer(model, spec, dev)
    gen = torch.Generator().manual_seed(spec.seed)
    result, start, state = FitResult(name, threads=threads, precision=precision), 0, {}
    if out_dir is not None:
        start, state = _resume(model, opt, gen, result, out_dir, spec)
    precision, amp = result.precision, AMP_DTYPES.get(result.precision)  # a resumed model keeps its precision
    # fp16's narrow range underflows small gradients: scale the loss, unscale in the (fused) optimizer, skip steps
    # whose gradients overflowed. With fused Adam the scaler never reads found-inf back to the host.
    scaler = torch.amp.GradScaler(dev.type) if precision == "fp16" else None
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    n = len(train[0])
    seen = min(n, spec.epoch_images) if spec.epoch_images else n  # images drawn per epoch
    log(f"{name}: {n} examples{f' ({seen} drawn per epoch)' if seen < n else ''}, {spec.epochs} epochs of batch "
        f"{spec.batch_size} on {dev.type}{f' ({threads} threads)' if dev.type == 'cpu' else ''}, "
        f"{_PRECISION_TEXT[precision]}")
    x, y = train[0].to(dev), train[1].to(dev)  # once per fit: batches are then index-selected on the device
    if test is not None:
        test = (test[0].to(dev), test[1].to(dev))
    batch_eval = eval_batch(dev, spec.eval_batch)
    train_sample = _train_sample(x, y, spec.train_eval)
    steps_per_epoch = math.ceil(seen / spec.batch_size)
    writer = _tensorboard(out_dir, start)
    for epoch in range(start, spec.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)[:seen].to(dev)
        t0, c0, loss_sum, counts = time.perf_counter(), time.process_time(), torch.zeros((), device=dev), {}
        losses = torch.empty(steps_per_epoch, device=dev)  # per-step losses, checked once at the epoch's end
        for i in progress(range(steps_per_epoch), f"{name} {epoch + 1}/{spec.epochs}", unit="step"):
            for g in opt.param_groups:
                g["lr"] = _lr_at(spec, epoch * steps_per_epoch + i, spec.epochs * steps_per_epoch)
            idx = perm[i * spec.batch_size:(i + 1) * spec.batch_size]
            xb, yb = x[idx], y[idx]
            with torch.autocast(dev.type, amp or torch.bfloat16, enabled=amp is not None):
                out = forward(xb)
                loss = task.loss(out, yb)
            opt.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            losses[i] = loss.detach()  # no .item() here: a read would make every step wait for the GPU
            loss_sum += loss.detach() * len(idx)
            for k, v in task.correct(out.detach() if isinstance(out, Tensor) else out, yb).items():
                counts[k] = counts.get(k, 0) + v
        _check_epoch(losses, model, name, epoch)
        result.train_s += time.perf_counter() - t0
        result.train_cpu_s += time.process_time() - c0  # all threads: robust to other processes' load
        row = {"epoch": epoch + 1, "loss": float(loss_sum) / seen, "train_s": result.train_s,
               "train_cpu_s": result.train_cpu_s,
               **{f"running_{k}": float(v) / seen for k, v in counts.items()}}
        if train_sample is not None:  # not timed: train_s and eval_s stay the costs of training and testing
            scores = evaluate(model, task, *train_sample, batch_eval, precision=precision)
            row.update({f"train_{k}": v for k, v in scores.items()} | {"train_n": len(train_sample[0])})
        else:
            row.update({f"train_{k}": row[f"running_{k}"] for k in counts})
        if test is not None:  # one inference pass over the held-out set, timed: test_s comes from these passes
            t1, c1 = time.perf_counter(), time.process_time()
            scores = evaluate(model, task, *test, batch_eval, precision=precision)
            row.update({f"{held_out}_{k}": v for k, v in scores.items()})
            row["eval_s"], row["eval_cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
        result.history.append(row)
        _log_epoch(name, row, spec.epochs, writer)
        if on_epoch:
            on_epoch(row)
        if out_dir is not None and epoch + 1 < spec.epochs:  # after the last epoch model.pt is written instead
            _save_checkpoint(model, opt, gen, result, out_dir, spec, epoch + 1, scaler)
    if writer:
        writer.close()
    result.test_s, result.test_cpu_s = _median_eval(result.history)
    result.final = dict(result.history[-1]) if result.history else {}
    if out_dir is not None:
        _save_finished(model, result, out_dir, spec)
    return result


# ---------------------------------------------------------------- helpers of fit
TRAIN_SAMPLE_SEED = 20_251_203  # fixed: every model of every run is scored on the same training images


def _train_sample(x: Tensor, y: Tensor, k: int) -> tuple[Tensor, Tensor] | None:
    """k training images drawn once with a fixed seed (all of them when there are fewer), in index order."""
    if k <= 0:
        return None
    if k >= len(x):
        return x, y
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(TRAIN_SAMPLE_SEED))[:k].sort().values
    idx = idx.to(x.device)
    return x[idx], y[idx]


def _median_eval(history: list[dict[str, float]]) -> tuple[float, float]:
    """(wall, CPU) seconds of one inference pass over the held-out set: the median over the epochs' evaluation
    passes (each epoch evaluates once anyway, so timing costs no extra pass; the median drops the first pass's
    warm-up and a busy machine's outliers). (0, 0) without evaluations."""
    walls = sorted(r["eval_s"] for r in history if "eval_s" in r)
    cpus = sorted(r["eval_cpu_s"] for r in history if "eval_cpu_s" in r)
    if not walls:
        return 0.0, 0.0
    return walls[len(walls) // 2], cpus[len(cpus) // 2] if cpus else 0.0


_PRECISION_TEXT = {"fp32": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + gradient scaler"}


def _check_epoch(losses: Tensor, model: nn.Module, name: str, epoch: int) -> None:
    """Refuse an epoch with a non-finite loss at any step, or non-finite weights (a step with a finite loss but an
    overflow in backward leaves NaN weights that no loss has shown yet), before it is saved as a checkpoint or a
    finished model. One host read when all is well (reduced on the device); the message names the first bad step."""
    finite = torch.isfinite(losses)
    weights_ok = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()
    if bool(finite.all() & weights_ok):
        return
    bad = (~finite).nonzero()
    if len(bad):
        step = int(bad[0, 0])
        raise TrainingDiverged(name, epoch + 1, step, float(losses[step]))
    raise TrainingDiverged(name, epoch + 1, len(losses) - 1, float("nan"))


def _log_epoch(name: str, row: dict[str, float], epochs: int, writer: Any) -> None:
    parts = [f"{k}={v:.4f}" for k, v in row.items() if k not in ("epoch", "train_s", "train_cpu_s", "eval_s",
                                                                "eval_cpu_s", "train_n")]
    log(f"{name} epoch {row['epoch']}/{epochs} {' '.join(parts)} ({row['train_s']:.1f} s)")
    if writer:
        for k, v in row.items():
            if k != "epoch":
                writer.add_scalar(f"{name}/{k}", v, row["epoch"])
        writer.flush()


def _tensorboard(out_dir: Path | None, start: int) -> Any:
    if out_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    # purge_step drops events a killed run wrote after its last checkpoint
    return SummaryWriter(str(out_dir / "tensorboard"), purge_step=start + 1 if start else None)


def _fingerprint(spec: TrainSpec) -> dict[str, Any]:
    return json_safe(asdict(spec))


def json_safe(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _save_checkpoint(model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, result: FitResult,
                     out_dir: Path, spec: TrainSpec, epoch: int, scaler: Any = None) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": gen.get_state(),
             "epoch": epoch, "history": result.history, "train_s": result.train_s, "train_cpu_s": result.train_cpu_s,
             "spec": _fingerprint(spec), "threads": result.threads, "precision": result.precision,
             "scaler": scaler.state_dict() if scaler is not None else None}
    save_state(state, out_dir / "checkpoint.pt")


def _resume(model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, result: FitResult,
            out_dir: Path, spec: TrainSpec) -> tuple[int, dict[str, Any]]:
    """Load `out_dir/checkpoint.pt` if it matches `spec`: returns (epochs done, the checkpoint), else (0, {})."""
    path = out_dir / "checkpoint.pt"
    if not path.is_file():
        return 0, {}
    state = safe_load(path)
    if state.get("spec") != _fingerprint(spec):
        log(f"{path}: written with other settings, starting {result.name} afresh")
        return 0, {}
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    gen.set_state(state["rng"])
    result.history, result.train_s = list(state["history"]), float(state["train_s"])
    result.train_cpu_s = float(state.get("train_cpu_s", 0.0))
    cpu = next(model.parameters()).device.type == "cpu"
    if cpu and state.get("threads") and state["threads"] != torch.get_num_threads():
        # the count the model started with: float sums (and so the final numbers) match an uninterrupted run
        torch.set_num_threads(int(state["threads"]))
        result.threads = torch.get_num_threads()
    if state.get("precision") and state["precision"] != result.precision:
        # like the thread count: the precision the model started in, so it ends as an uninterrupted run would
        log(f"{result.name}: continuing in {state['precision']}, the precision it started in "
            f"(not {result.precision})")
        result.precision = str(state["precision"])
    log(f"{result.name}: resuming after epoch {state['epoch']}")
    return int(state["epoch"]), state


def save_state(obj: Any, path: Path) -> None:
    """torch.save, atomically, through a Python file, so that a full disk raises OSError naming `path`; torch's
    zip writer turns it into a C++ RuntimeError ('unexpected pos ...') that names nothing."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as err:
            if isinstance(err.__context__, OSError):  # the writer's cleanup failed on the write's own error
                raise err.__context__ from None
            raise


def safe_load(path: Path) -> Any:
    """torch.load that never runs pickled code: a tampered file is refused with a clear error."""
    from mnistlab.errors import UserError

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError, EOFError: all mean "not a checkpoint we trust"
        raise UserError(f"{path}: not a valid checkpoint ({type(err).__name__}); delete it to retrain") from None


def _save_finished(model: nn.Module, result: FitResult, out_dir: Path, spec: TrainSpec) -> None:
    save_state(model.state_dict(), out_dir / "model.pt")
    atomic_write_json(out_dir / "history.json", {**asdict(result), "spec": _fingerprint(spec)})
    (out_dir / "checkpoint.pt").unlink(missing_ok=True)


def _load_finished(model: nn.Module, out_dir: Path, spec: TrainSpec, name: str) -> FitResult | None:
    meta = read_json(out_dir / "history.json")
    if meta is None or not (out_dir / "model.pt").is_file() or meta.get("spec") != _fingerprint(spec):
        return None
    model.load_state_dict(safe_load(out_dir / "model.pt"))
    log(f"{name}: already trained, loaded {out_dir / 'model.pt'}")
    return FitResult(name, meta["history"], meta["train_s"], meta["test_s"], meta["final"], meta.get("threads", 0),
                     meta.get("train_cpu_s", 0.0), meta.get("test_cpu_s", 0.0), meta.get("precision", ""))


def to_tensors(x: Any, y: Any, image: bool = True) -> tuple[Tensor, Tensor]:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] (or (N, 784) with image=False);
    labels -> int64."""
    xt = torch.from_numpy(np.array(x, dtype=np.float32)).div_(255.0)  # a copy: the cached arrays are read-only
    xt = xt.unsqueeze(1) if image else xt.reshape(len(xt), -1)
    return xt.contiguous(), torch.from_numpy(np.array(y, dtype=np.int64))


def seed_everything(seed: int) -> None:
    """Seed torch's global RNG (weight init). Shuffling uses its own generator, seeded from TrainSpec.seed."""
    torch.manual_seed(seed)
