"""Study 4: CNNs on MNIST. 4.1 the brief's net (conv 32-64-128, 4x4 kernels, strides 1-2-2, 'same' padding,
dense 10: 227,306 parameters); 4.2 four nets of other depths and widths (`models.cnn.VARIANTS`) trained with
the same recipe; a table and plots of test accuracy, parameters, training and test (inference) time; and the
CNN-vs-MLP comparison against the MLP study's nets of the same run (accuracy against parameters and time).

The viz study loads the 4.1 net from `<run>/cnn/4_1/model.pt` (it declares this study in its NEEDS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mnistlab.config import RunConfig
from mnistlab.log import log
from mnistlab.models.cnn import CNN_4_1, VARIANTS, CNNSpec, conv_macs
from mnistlab.plots import cnn as plots
from mnistlab.plots import mlp as mlp_plots
from mnistlab.plots import save_figure
from mnistlab.runs import RunDir, read_json
from mnistlab.studies import StudyResult, nets

NAME = "cnn"
# Read when present, never forced (see mnistlab.studies): mlp/summary.json adds the MLPs to the CNN-vs-MLP figure.
# Without it the figure shows the CNNs only, which is a usable result, so `mnistlab run cnn` alone need not train
# the MLPs; when both are to run, the runner runs mlp first.
USES = ("mlp",)


def recipe(cfg: RunConfig, variant: bool = False) -> nets.Recipe:
    c = cfg.cnn
    epochs = (c.variant_epochs or c.epochs) if variant else c.epochs
    return nets.Recipe(epochs, c.batch_size, c.lr, c.schedule, c.label_smoothing)


def networks() -> dict[str, CNNSpec]:
    """Model folder name -> spec, 4.1 first."""
    return {"4_1": CNN_4_1} | {f"4_2_{tag}": s for tag, s in VARIANTS.items()}


def run(cfg: RunConfig, rd: RunDir) -> StudyResult:
    out = rd.study_dir(NAME)
    tensors = nets.tensors(nets.mnist(cfg), cfg.cnn.subset, image=True)
    rows: dict[str, dict[str, Any]] = {}
    for name, spec in networks().items():
        rec = recipe(cfg, variant=name != "4_1")
        per_seed = [nets.train_net(rd, NAME, name, spec.build, rec, tensors, s, cfg.device,
                                cfg.seed, cfg.cnn.channels_last)[1] for s in nets.seeds(cfg)]
        rows[name] = {**nets.aggregate(per_seed), **describe(spec)}

    mlp_rows = mlp_results(rd)
    figures = write_figures(rows, mlp_rows, out / "figures")
    metrics: dict[str, Any] = {}
    for row in rows.values():
        metrics |= nets.metrics(NAME, row)
    summary = {"recipe": vars(recipe(cfg)), "variant_recipe": vars(recipe(cfg, variant=True)),
               "models": {k: nets.table_row(v) for k, v in rows.items()},
               "curves": {k: v["history"] for k, v in rows.items()},
               "table": [table_row(rows[k]) for k in rows], "mlp_compared": sorted(mlp_rows),
               "figures": figures}
    return StudyResult(summary=summary, metrics=metrics)


def describe(spec: CNNSpec) -> dict[str, Any]:
    """The architecture columns of the 4.2 table."""
    return {"filters": list(spec.filters), "strides": list(spec.strides), "kernel": spec.kernel,
            "conv_layers": len(spec.filters), "macs": conv_macs(spec), "about": spec.about}


def table_row(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("name", "conv_layers", "filters", "strides", "kernel", "about", "params", "macs", "test_acc",
            "train_acc", "train_s", "train_cpu_s", "test_s", "test_cpu_s", "threads", "n", "test_acc_std",
            "train_s_std", "test_s_std")
    return {k: row[k] for k in keep if k in row}


def mlp_results(rd: RunDir) -> dict[str, dict[str, Any]]:
    """The MLP study's rows of this run (for the CNN-vs-MLP figure, `USES`); empty if it has not run here."""
    summary = read_json(rd.path / "mlp" / "summary.json")
    if summary is None:
        log(f"[{NAME}] no mlp/summary.json in this run: the CNN-vs-MLP figure shows the CNNs only")
        return {}
    return summary.get("models", {})


def write_figures(rows: dict[str, dict[str, Any]], mlp_rows: dict[str, dict[str, Any]],
                  folder: Path) -> dict[str, str]:
    figs = {"4_1_curves": mlp_plots.curves({"CNN 4.1": rows["4_1"]["history"]}),
            "4_2_variants": plots.variants(list(rows.values())),
            "4_2_curves": mlp_plots.curves({_label(k): v["history"] for k, v in rows.items()}),
            "cnn_vs_mlp": plots.cnn_vs_mlp(list(rows.values()), list(mlp_rows.values()))}
    for stem, fig in figs.items():
        save_figure(fig, folder / stem)
    return {stem: f"figures/{stem}.png" for stem in figs}


def _label(name: str) -> str:
    return "4.1" if name == "4_1" else name.removeprefix("4_2_")
