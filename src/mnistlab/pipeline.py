"""`mnistlab run`: resolve the config, open the run folder, run the studies, then the deliverables."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from mnistlab import config as configs
from mnistlab.config import STUDIES
from mnistlab.errors import UserError
from mnistlab.log import log
from mnistlab.runs import RunDir

DELIVERABLES = ("notebook", "report", "bundle")


def resolve(a: argparse.Namespace) -> configs.RunConfig:
    data_dir = a.data_dir or os.environ.get("MNISTLAB_DATA")
    return configs.build(a.profile, a.set, seed=a.seed, device=a.device, data_dir=data_dir)


def default_out(cfg: configs.RunConfig) -> Path:
    return Path("runs") / f"{cfg.profile}-s{cfg.seed}"


def run(a: argparse.Namespace) -> int:
    names = list(dict.fromkeys(a.studies)) or list(STUDIES)
    for n in names:
        if n not in STUDIES:
            raise UserError(f"unknown study {n!r}; choose from {', '.join(STUDIES)}")
    cfg = resolve(a)
    out = Path(a.out) if a.out else default_out(cfg)
    from mnistlab.studies import load, run_studies

    for n in names:  # fail on a missing study before any folder is made
        load(n)

    t0 = time.perf_counter()
    with RunDir.open(out, cfg.to_dict()) as rd:
        log(f"run folder {rd.path} (profile {cfg.profile}, seed {cfg.seed})")
        status = run_studies(cfg, rd, names)
        built: dict[str, Path] = {}
        failed: list[str] = []
        from mnistlab.deliverables import group

        group.save(rd.path, a.group, a.member)
        if a.no_deliverables:
            pass
        elif all(rd.is_done(s) or rd.metrics().get(f"status.{s}") == "failed" for s in STUDIES):
            say_placeholders(rd.path)
            built = deliverables(rd.path, a.name, failed)
        else:
            left = [s for s in STUDIES if not rd.is_done(s)]
            log(f"[deliverables] skipped: {', '.join(left)} not run in {rd.path} yet "
                f"(`mnistlab report --run {rd.path}` builds a partial report)")
        print_summary(rd, status, time.perf_counter() - t0, built)
    return 1 if "failed" in status.values() or failed else 0


def tune(a: argparse.Namespace) -> int:
    """`mnistlab tune`: run (or extend) the mtl study's Adam tuning for a run folder and print the winner. The flags
    --storage and --trials become mtl.storage and mtl.tune_trials, so a later `mnistlab run mtl` with the same
    flags reuses the trials."""
    from mnistlab.errors import TrainingDiverged
    from mnistlab.studies import mtl, tune
    from mnistlab.train import pick_device

    extra = [f"mtl.storage={a.storage}"] if a.storage else []
    extra += [f"mtl.tune_trials={a.trials}"] if a.trials is not None else []
    a = argparse.Namespace(**{**vars(a), "set": [*a.set, *extra]})  # a copy: the caller's flags stay as given
    cfg = resolve(a)
    mtl.check(cfg)
    out = Path(a.out) if a.out else default_out(cfg)
    with RunDir.open(out, cfg.to_dict()) as rd:
        try:
            result = tune.tune(cfg, rd, mtl.load(cfg), str(pick_device(cfg.device)), mtl.train_spec)
        except TrainingDiverged as err:
            raise UserError(f"every tuning trial diverged ({err}); narrow the search or lower mtl.lr") from None
    b = result["best"]
    print(f"study {result['study']} ({result['n_trials']} trials) in {result['storage']}")
    print(f"best trial {result['best_trial']}: val accuracy {result['best_value']:.4f} with "
          f"lr={b['lr']:.4g} beta1={b['beta1']:.4f} beta2={b['beta2']:.5f}")
    print(f"table: {out / 'mtl' / 'tuning' / 'trials.csv'}; figure: {out / 'mtl' / 'figures' / 'tuning.png'}")
    return 0


def say_placeholders(run_dir: Path) -> None:
    """One line naming the group details the deliverables will show as placeholders, if any."""
    from mnistlab.deliverables import group

    missing = group.placeholders(run_dir)
    if missing:
        log(f"[deliverables] placeholders remain for: {', '.join(missing)} "
            "(give --group N and --member 'NAME | STUDENT ID | CONTRIBUTION' once per member)")


def deliverable(kind: str, run_dir: Path, name: str | None) -> int:
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json); run `mnistlab run --out {run_dir}` first")
    if kind == "notebook":
        from mnistlab.deliverables.notebook import execute as build
    elif kind == "report":
        from mnistlab.deliverables.build import build
    else:
        from mnistlab.deliverables.bundle import build
    path = build(run_dir, name) if kind == "bundle" else build(run_dir)
    log(f"[{kind}] wrote {path}")
    return 0


def fingerprint(run_dir: Path, kind: str, name: str | None) -> str:
    """A hash of everything a deliverable is made from: the config, each study's summary and completion, the
    headline metrics (without the report's own `report.*` keys) and the package's source. Unchanged hash:
    the deliverable is up to date and a re-run skips it."""
    import hashlib
    import json

    import mnistlab

    h = hashlib.sha256(f"{kind}:{name}".encode())
    metrics = {k: v for k, v in RunDir(run_dir).metrics().items() if not k.startswith("report.")}
    h.update(json.dumps(metrics, sort_keys=True).encode())
    inputs = [run_dir / "config.json", run_dir / "group.json"]
    for path in inputs + [run_dir / s / f for s in STUDIES for f in ("summary.json", ".done")]:
        h.update(path.read_bytes() if path.is_file() else b"-")
    package = Path(mnistlab.__file__).parent
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".typ", ".yml", ".json") and "__pycache__" not in path.parts:
            h.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def deliverables(run_dir: Path, name: str | None, failed: list[str] | None = None) -> dict[str, Path]:
    """Notebook, report and bundle, each rebuilt only when its inputs changed since it was last built. A
    deliverable that fails is logged and appended to `failed` (the bundle is then skipped)."""
    failed = [] if failed is None else failed
    from mnistlab.runs import atomic_write_json, read_json

    stamp = run_dir / ".deliverables.json"
    done = read_json(stamp, {})
    from mnistlab.deliverables import group

    outputs = {"notebook": run_dir / "study.ipynb", "report": run_dir / "report.pdf",
               "bundle": run_dir / f"{name or group.bundle_name(run_dir)}.zip"}
    for kind in DELIVERABLES:
        key = fingerprint(run_dir, kind, name)
        if done.get(kind) == key and outputs[kind].is_file():
            log(f"[{kind}] up to date: {outputs[kind]}")
            continue
        t0 = time.perf_counter()
        try:
            deliverable(kind, run_dir, name)
        except UserError as err:  # the studies' results stand; say what failed and go on to the summary
            log(f"[{kind}] FAILED: {err}")
            failed.append(kind)
            if kind != "bundle":
                log("[bundle] skipped: it needs the notebook and the report")
                failed.append("bundle")
                break
            continue
        done[kind] = key
        atomic_write_json(stamp, done)
        log(f"[{kind}] built in {time.perf_counter() - t0:.1f} s")
    return outputs


# Headline numbers of the final table: the first of each study's keys that exists in metrics.json.
HEADLINES = {
    "pca": ("pca.cum_var.2",),
    "perceptron": ("perceptron.0-1.test_acc",),
    "mlp": ("mlp.3_1.test_acc",),
    "cnn": ("cnn.4_1.test_acc",),
    "viz": ("viz.dream.2.noise.p_independent",),
    "mtl": ("mtl.single.items.test_acc",),
}


def _headline(study: str, metrics: dict[str, Any]) -> str:
    keys = [k for k in HEADLINES.get(study, ()) if isinstance(metrics.get(k), int | float)]
    if not keys:  # fall back on any accuracy the study reported
        keys = sorted(k for k, v in metrics.items() if k.startswith(study + ".") and k.endswith("test_acc")
                      and isinstance(v, float))[:1]
    return ", ".join(f"{k.split('.', 1)[1]} = {metrics[k]:.4f}" for k in keys[:1])


def print_summary(rd: RunDir, status: dict[str, str], seconds: float, built: dict[str, Path] | None = None) -> None:
    """The closing table: per study its state, wall time, a headline number and its folder; then the deliverables."""
    metrics = rd.metrics()
    print(f"\n{'study':<11}{'status':<9}{'time (s)':>9}  {'headline':<40}  files")
    for study, state in status.items():
        t = metrics.get(f"time.{study}.s")
        t_text = f"{t:9.1f}" if isinstance(t, int | float) else f"{'-':>9}"
        print(f"{study:<11}{state:<9}{t_text}  {_headline(study, metrics):<40}  {rd.path / study}")
    for kind, path in (built or {}).items():
        print(f"{kind:<11}{'ready' if path.is_file() else 'missing':<9}{'':>9}  {'':<40}  {path}")
    words = metrics.get("report.words")
    extra = f"; report body {words:,} words" if isinstance(words, int) and built else ""
    print(f"total {seconds:.1f} s{extra}; files in {rd.path}")
