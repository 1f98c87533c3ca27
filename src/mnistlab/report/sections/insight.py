"""Tasks 5 and 6: visualising the CNN and multi-task learning."""

from __future__ import annotations

from typing import Any

from mnistlab.report.results import MissingResult, Results, fmt
from mnistlab.report.sections.common import and_list, compare, figures, need, short


# ---------------------------------------------------------------- 5 visualisation
def viz(r: Results) -> dict[str, Any]:
    s = r.summary("viz")
    models, dreams, acts = s["models"], s["dreams"], s["activations"]
    rows, missed, missed_cnn = [], [], []
    n_dreams = 0
    for target in sorted({row["target"] for row in dreams["table"]}):
        for kind in ("noise", "real"):
            k = f"viz.dream.{target}.{kind}"
            if not r.has(f"{k}.p_cnn"):
                continue
            n = int(r.metrics.get(f"{k}.p_cnn.n", 1))
            hits = int(r.value(f"{k}.hits_independent"))
            n_dreams += n
            what = f"{target} from {'noise' if kind == 'noise' else 'a real digit'}"
            if hits < n:
                missed.append(what)
            if int(r.value(f"{k}.hits_cnn")) < n:
                missed_cnn.append(what)
            rows.append([str(target), "noise" if kind == "noise" else "test digit", r.pct(f"{k}.p_cnn", 1, True),
                         r.pct(f"{k}.p_independent", 1, True), f"{int(r.value(f'{k}.hits_cnn'))}/{n}",
                         f"{hits}/{n}"])
    if not rows:
        raise MissingResult("viz.dream.* metrics")
    layers = sorted(acts[next(iter(acts))])
    frac = {layer: sum(a[layer]["active_maps"] for a in acts.values())
            / sum(a[layer]["shape"][0] for a in acts.values()) for layer in layers}
    indep = str(models["independent"]["model"]).replace("mlp_3_1", "MLP 3.1").replace("cnn_4_1", "CNN 4.1")
    settings = dreams["settings"]
    deep = [f for f in s["filters"] if f != layers[0]]
    figs = figures(r, "viz", "filters", "activations_2", "activations_9", "dreams")
    for stem in ("filters", "dreams"):
        need(figs[stem], f"viz/figures/{stem}")
    return {
        "table": {"header": ["class", "start", "p (CNN 4.1)", f"p ({indep})", "hits CNN", f"hits {indep}"],
                  "rows": rows, "align": "clrrrr"},
        "cnn_how": str(models["cnn_4_1"]["how"]), "cnn_acc": r.pct("viz.cnn_4_1.test_acc"),
        "indep": indep, "indep_how": str(models["independent"]["how"]), "indep_acc": r.pct("viz.independent.test_acc"),
        "deep_shown": str(s["filters"][deep[0]]["shown"]) if deep else "",
        "active_first": f"{100 * frac[layers[0]]:.0f}%", "active_last": f"{100 * frac[layers[-1]]:.0f}%",
        "first": layers[0], "last": layers[-1], "sparser_deep": frac[layers[-1]] < frac[layers[0]],
        "n_dreams": str(n_dreams), "all_hit": not missed, "missed": and_list(missed) if missed else "",
        "cnn_missed": and_list(missed_cnn) if missed_cnn else "",
        "steps": str(settings.get("dream_steps", "")), "octaves": str(settings.get("octaves", "")),
        "pca": settings.get("dream_param", "pixel") == "pca", "pca_k": str(settings.get("pca_components", "")),
        "dream_seeds": str(len(dreams.get("seeds", []))),
        "dreams_wide": len(dreams.get("seeds", [])) > 3,  # one column per seed: a wide figure needs the full width
        "noise_vs_real": _noise_vs_real(r),
        "fig": figs,
    }


def _noise_vs_real(r: Results) -> str:
    """'weaker', 'same' or 'stronger': how sure the independent model is, on average, of the dreams from noise
    against those from a real digit ('same' within 0.05 of probability)."""
    def mean(kind: str) -> float:
        vals = [v for k, v in r.metrics.items() if k.startswith("viz.dream.") and k.endswith(f".{kind}.p_independent")]
        return sum(vals) / len(vals) if vals else 0.0

    gap = mean("noise") - mean("real")
    return "same" if abs(gap) < 0.05 else ("stronger" if gap > 0 else "weaker")


# ---------------------------------------------------------------- 6 multi-task learning
def _majority_group_share() -> float:
    """Share of the largest group when the ten items are equally frequent (Uni-Sex: 4 of 10 classes)."""
    import numpy as np

    from mnistlab.data import fashion_groups

    return float(np.bincount(fashion_groups(np.arange(10))).max() / 10)


def mtl(r: Results) -> dict[str, Any]:
    from mnistlab.config import parse_floats

    s = r.summary("mtl")
    lambdas = parse_floats(r.cfg("mtl", "lambdas"), "mtl.lambdas")
    name = {lam: f"mtl.lambda_{lam:g}" for lam in lambdas}
    dash = "\u2013"
    rows = [["single items net", dash, r.pct("mtl.single.items.test_acc"), dash,
             r.pct("mtl.single.groups_from_items.test_acc")],
            ["single groups net", dash, dash, r.pct("mtl.single.groups.test_acc"), dash]]
    rows += [["MTL net", f"{lam:g}", r.pct(f"{name[lam]}.items.test_acc"), r.pct(f"{name[lam]}.groups.test_acc"),
              r.pct(f"{name[lam]}.groups_from_items.test_acc")] for lam in lambdas]
    has_uw = r.has("mtl.uw.items.test_acc")
    if has_uw:
        rows.append(["uncertainty weighting", f"\u2248{r.value('mtl.uw.lambda_eff'):.2f}",
                     r.pct("mtl.uw.items.test_acc"), r.pct("mtl.uw.groups.test_acc"),
                     r.pct("mtl.uw.groups_from_items.test_acc")])
    inner = [lam for lam in lambdas if 0 < lam < 1]
    # Multi-task learning is judged where both heads train (0 < lambda < 1); at lambda = 1 the net is the single
    # items net with an idle head, so counting it would credit sharing for a result that shared nothing.
    best_items = max(inner or [lam for lam in lambdas if lam > 0],
                     key=lambda lam: r.value(f"{name[lam]}.items.test_acc"))
    best_groups = max(inner or [lam for lam in lambdas if lam < 1],
                      key=lambda lam: r.value(f"{name[lam]}.groups.test_acc"))
    adam, tuning = s.get("adam", {}), s.get("tuning", {})
    figs = figures(r, "mtl", "lambda_sweep", "curves", "tuning")
    need(figs["lambda_sweep"], "mtl/figures/lambda_sweep")
    out: dict[str, Any] = {
        "table": {"header": ["model", "\u03bb", "items acc.", "groups acc.", "groups via items"], "rows": rows,
                  "align": "lcrrr"},
        "lambdas": ", ".join(f"{lam:g}" for lam in lambdas),
        "tuned": bool(adam.get("tuned")), "n_trials": str(tuning.get("n_trials", 0)),
        "tune_lambda": f"{tuning.get('settings', {}).get('lambda', 0.5):g}",
        "lr": f"{r.value('mtl.tuned.lr'):.3g}" if r.has("mtl.tuned.lr") else "", "beta1": short(r, "mtl.tuned.beta1"),
        "beta2": short(r, "mtl.tuned.beta2"), "val_images": fmt(float(tuning.get("val_images", 0))),
        "best_value": f"{100 * float(tuning.get('best_value', 0)):.1f}%",
        "single_items": r.pct("mtl.single.items.test_acc"), "single_groups": r.pct("mtl.single.groups.test_acc"),
        "best_items_lambda": f"{best_items:g}", "best_items": r.pct(f"{name[best_items]}.items.test_acc"),
        "items_vs_single": compare(r, f"{name[best_items]}.items.test_acc", "mtl.single.items.test_acc"),
        "best_groups_lambda": f"{best_groups:g}", "best_groups": r.pct(f"{name[best_groups]}.groups.test_acc"),
        "groups_vs_single": compare(r, f"{name[best_groups]}.groups.test_acc", "mtl.single.groups.test_acc"),
        "n_inner": str(len(inner)),
        "has_zero": 0.0 in lambdas, "has_one": 1.0 in lambdas,
        "zero_items": r.pct(f"{name[0.0]}.items.test_acc") if 0.0 in lambdas else "",
        "zero_items_chance": 0.0 in lambdas and abs(r.value(f"{name[0.0]}.items.test_acc") - 0.1) < 0.05,
        "one_groups": r.pct(f"{name[1.0]}.groups.test_acc") if 1.0 in lambdas else "",
        "one_is_single": 1.0 in lambdas
        and r.value(f"{name[1.0]}.items.test_acc") == r.value("mtl.single.items.test_acc"),
        "one_groups_chance": 1.0 in lambdas and r.value(f"{name[1.0]}.groups.test_acc")
        < _majority_group_share() + 0.05,
        "majority": f"{100 * _majority_group_share():.0f}%",
        "via_items": r.pct("mtl.single.groups_from_items.test_acc"),
        "via_items_vs_head": compare(r, "mtl.single.groups_from_items.test_acc", "mtl.single.groups.test_acc"),
        "has_uw": has_uw, "params_mtl": fmt(r.value("mtl.params.mtl")),
        "params_two": fmt(r.value("mtl.params.two_single")),
        "params_ratio": f"{100 * r.value('mtl.params.mtl') / r.value('mtl.params.two_single'):.0f}%",
        "fig": figs,
    }
    if has_uw:
        out |= {"uw_items": r.pct("mtl.uw.items.test_acc"), "uw_groups": r.pct("mtl.uw.groups.test_acc"),
                "uw_lambda": f"{r.value('mtl.uw.lambda_eff'):.2f}",
                "uw_vs_best": compare(r, "mtl.uw.items.test_acc", f"{name[best_items]}.items.test_acc")}
    return out
