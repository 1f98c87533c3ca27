"""Task 6: multi-task learning. Every 'better', 'worse' or 'no clear difference' in the section is a verdict of
the noise rule (mnistlab.deliverables.claims) on numbers of this run."""

from __future__ import annotations

from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import Results, fmt
from mnistlab.deliverables.sections.common import compare, compare_level, figures, gap_points, n_test, need, short

DASH = "\u2013"


def _majority_group_share() -> float:
    """Share of the largest group when the ten items are equally frequent (Uni-Sex: 4 of 10 classes)."""
    import numpy as np

    from mnistlab.data import fashion_groups

    return float(np.bincount(fashion_groups(np.arange(10))).max() / 10)


def _table(r: Results, lambdas: list[float], name: dict[float, str]) -> dict[str, Any]:
    rows = [["single items net", DASH, r.pct("mtl.single.items.test_acc"), DASH,
             r.pct("mtl.single.groups_from_items.test_acc")],
            ["single groups net", DASH, DASH, r.pct("mtl.single.groups.test_acc"), DASH]]
    rows += [["MTL net", f"{lam:g}", r.pct(f"{name[lam]}.items.test_acc"), r.pct(f"{name[lam]}.groups.test_acc"),
              r.pct(f"{name[lam]}.groups_from_items.test_acc")] for lam in lambdas]
    if r.has("mtl.uw.items.test_acc"):
        rows.append(["uncertainty weighting", f"\u2248{r.value('mtl.uw.lambda_eff'):.2f}",
                     r.pct("mtl.uw.items.test_acc"), r.pct("mtl.uw.groups.test_acc"),
                     r.pct("mtl.uw.groups_from_items.test_acc")])
    return {"header": ["model", "\u03bb", "items acc.", "groups acc.", "groups via items"], "rows": rows,
            "align": "lcrrr"}


def _sharing(r: Results, inner: list[float], name: dict[float, str], n: int) -> dict[str, Any]:
    """The mixed weights (0 < lambda < 1) against the single-task nets, task by task, and how much the choice of
    lambda itself moves each task (best against worst mixed weight)."""
    out: dict[str, Any] = {}
    for task in ("items", "groups"):
        single = f"mtl.single.{task}.test_acc"
        verdicts = {lam: compare(r, f"{name[lam]}.{task}.test_acc", single, n) for lam in inner}
        best = max(inner, key=lambda lam: r.value(f"{name[lam]}.{task}.test_acc"))
        worst = min(inner, key=lambda lam: r.value(f"{name[lam]}.{task}.test_acc"))
        out |= {f"{task}_n_better": sum(v == claims.BETTER for v in verdicts.values()),
                f"{task}_n_worse": sum(v == claims.WORSE for v in verdicts.values()),
                f"best_{task}_lambda": f"{best:g}", f"best_{task}": r.pct(f"{name[best]}.{task}.test_acc"),
                f"{task}_vs_single": verdicts[best],
                f"{task}_gap": gap_points(r, f"{name[best]}.{task}.test_acc", single),
                f"{task}_sensitive": compare(r, f"{name[best]}.{task}.test_acc", f"{name[worst]}.{task}.test_acc", n)
                != claims.TIE,
                f"{task}_range": gap_points(r, f"{name[best]}.{task}.test_acc", f"{name[worst]}.{task}.test_acc")}
    out["negative_transfer"] = out["items_n_worse"] + out["groups_n_worse"] > 0
    out["positive_transfer"] = out["items_n_better"] + out["groups_n_better"] > 0
    return out


def _tuning(r: Results, s: dict[str, Any]) -> dict[str, Any]:
    """Optuna's best trial against the trial that ran the default Adam settings, on the validation images."""
    adam, tuning, trials = s.get("adam", {}), s.get("tuning", {}), s.get("trials", [])
    out: dict[str, Any] = {"tuned": bool(adam.get("tuned")), "n_trials": str(tuning.get("n_trials", 0)),
                           "tune_lambda": f"{tuning.get('settings', {}).get('lambda', 0.5):g}",
                           "val_images": fmt(float(tuning.get("val_images", 0))),
                           "best_value": f"{100 * float(tuning.get('best_value', 0)):.1f}%", "has_default": False}
    cfg = r.config.get("mtl", {})
    default = [t for t in trials if t.get("state") == "complete"
               and all(abs(float(t[k]) - float(cfg.get(k, -1))) < 1e-12 for k in ("lr", "beta1", "beta2"))]
    n_val = int(tuning.get("val_images", 0) or 0)
    if default and n_val and "best_value" in tuning:
        d = float(default[0]["value"])
        v = claims.verdict(claims.Accuracy(float(tuning["best_value"]), n_val), claims.Accuracy(d, n_val))
        out |= {"has_default": True, "default_value": f"{100 * d:.1f}%", "tuned_vs_default": v,
                "default_is_best": tuning.get("best_trial") == default[0].get("trial")}
    return out


def mtl(r: Results) -> dict[str, Any]:
    s = r.summary("mtl")
    lambdas = [float(lam) for lam in r.cfg("mtl", "lambdas")]  # a JSON list in config.json
    name = {lam: f"mtl.lambda_{lam:g}" for lam in lambdas}
    n = n_test(r, "mtl")
    # Multi-task learning is judged where both heads train (0 < lambda < 1); at lambda = 1 the net is the single
    # items net with an idle head, so counting it would credit sharing for a result that shared nothing.
    inner = [lam for lam in lambdas if 0 < lam < 1] or [lam for lam in lambdas if lam not in (0.0, 1.0)] or lambdas
    has_uw = r.has("mtl.uw.items.test_acc")
    figs = figures(r, "mtl", "lambda_sweep", "curves", "tuning")
    need(figs["lambda_sweep"], "mtl/figures/lambda_sweep")
    out: dict[str, Any] = {
        "table": _table(r, lambdas, name), "lambdas": ", ".join(f"{lam:g}" for lam in lambdas),
        **_tuning(r, s), **_sharing(r, inner, name, n),
        "lr": f"{r.value('mtl.tuned.lr'):.3g}" if r.has("mtl.tuned.lr") else "", "beta1": short(r, "mtl.tuned.beta1"),
        "beta2": short(r, "mtl.tuned.beta2"),
        "single_items": r.pct("mtl.single.items.test_acc"), "single_groups": r.pct("mtl.single.groups.test_acc"),
        "n_inner": str(len(inner)),
        "has_zero": 0.0 in lambdas, "has_one": 1.0 in lambdas,
        "majority": f"{100 * _majority_group_share():.0f}%",
        "via_items": r.pct("mtl.single.groups_from_items.test_acc"),
        "via_items_vs_head": compare(r, "mtl.single.groups_from_items.test_acc", "mtl.single.groups.test_acc", n),
        "has_uw": has_uw, "params_mtl": fmt(r.value("mtl.params.mtl")),
        "params_two": fmt(r.value("mtl.params.two_single")),
        "params_ratio": f"{100 * r.value('mtl.params.mtl') / r.value('mtl.params.two_single'):.0f}%",
        "fig": figs,
    }
    if 0.0 in lambdas:
        out |= {"zero_items": r.pct(f"{name[0.0]}.items.test_acc"),
                "zero_items_chance": compare_level(r, f"{name[0.0]}.items.test_acc", 0.1, n) == claims.TIE,
                "zero_groups": r.pct(f"{name[0.0]}.groups.test_acc"),
                "zero_vs_single": compare(r, f"{name[0.0]}.groups.test_acc", "mtl.single.groups.test_acc", n)}
    if 1.0 in lambdas:
        out |= {"one_groups": r.pct(f"{name[1.0]}.groups.test_acc"),
                "one_is_single": r.value(f"{name[1.0]}.items.test_acc") == r.value("mtl.single.items.test_acc"),
                "one_vs_single": compare(r, f"{name[1.0]}.items.test_acc", "mtl.single.items.test_acc", n),
                "one_groups_chance": compare_level(r, f"{name[1.0]}.groups.test_acc", _majority_group_share(), n)
                != claims.BETTER}
    if has_uw:
        best = float(out["best_items_lambda"])
        out |= {"uw_items": r.pct("mtl.uw.items.test_acc"), "uw_groups": r.pct("mtl.uw.groups.test_acc"),
                "uw_lambda": f"{r.value('mtl.uw.lambda_eff'):.2f}",
                "uw_vs_best": compare(r, "mtl.uw.items.test_acc", f"{name[best]}.items.test_acc", n)}
    return out
