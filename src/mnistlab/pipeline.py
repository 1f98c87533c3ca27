"""`mnistlab run`: resolve the config, open the run folder, run the studies, then the deliverables."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

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
        if not a.no_deliverables and all(rd.is_done(s) for s in STUDIES):
            for kind in DELIVERABLES:
                deliverable(kind, rd.path, a.name)
        print_summary(rd, status, time.perf_counter() - t0)
    return 1 if "failed" in status.values() else 0


def deliverable(kind: str, run_dir: Path, name: str | None) -> int:
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.json); run `mnistlab run --out {run_dir}` first")
    try:
        if kind == "notebook":
            from mnistlab.report.notebook import execute as build
        elif kind == "report":
            from mnistlab.report.build import build
        else:
            from mnistlab.report.bundle import build
    except ModuleNotFoundError:
        raise UserError(f"mnistlab {kind} is not implemented yet") from None
    path = build(run_dir, name) if kind == "bundle" else build(run_dir)
    log(f"[{kind}] wrote {path}")
    return 0


def print_summary(rd: RunDir, status: dict[str, str], seconds: float) -> None:
    metrics = rd.metrics()
    print(f"\n{'study':<11}{'status':<9}{'time (s)':>9}  headline")
    for study, state in status.items():
        t = metrics.get(f"time.{study}.s")
        heads = [f"{k.split('.', 1)[1]}={v:.4f}" for k, v in sorted(metrics.items())
                 if k.startswith(study + ".") and k.endswith("test_acc") and isinstance(v, float)][:3]
        print(f"{study:<11}{state:<9}{t if t is not None else float('nan'):>9.1f}  {', '.join(heads)}")
    print(f"total {seconds:.1f} s; files in {rd.path}")
