"""Tasks 5 and 6: visualising the CNN and multi-task learning."""

from __future__ import annotations

from typing import Any

from mnistlab.report import claims, cnnfacts
from mnistlab.report.results import MissingResult, Results
from mnistlab.report.sections.common import and_list, figures, need


def _model_acc(r: Results, which: str, model: str, how: str) -> str:
    """Test accuracy of a model the visualisation used. A reused model is quoted from the study that trained it,
    so the report gives one number per model (the visualisation re-scores it in fp32, its study in the training
    precision, and one image in 10,000 can flip between the two)."""
    source = {"cnn_4_1": "cnn.4_1.test_acc", "mlp_3_1": "mlp.3_1.test_acc"}.get(model)
    if how == "reused" and source and r.has(source):
        return r.pct(source)
    return r.pct(f"viz.{which}.test_acc")


def _dream_rows(r: Results, targets: list[int]) -> tuple[list[list[str]], dict[str, Any]]:
    """Table rows and hit counts of the dreams: how many of them each model classifies as their target."""
    rows, missed = [], []
    hits = {"cnn": 0, "independent": 0}
    total = 0
    for target in targets:
        for kind in ("noise", "real"):
            k = f"viz.dream.{target}.{kind}"
            if not r.has(f"{k}.p_cnn"):
                continue
            n = int(r.metrics.get(f"{k}.p_cnn.n", 1))
            got = {m: int(r.value(f"{k}.hits_{m}")) for m in hits}
            total += n
            for m in hits:
                hits[m] += got[m]
            if got["independent"] < n:
                missed.append(f"{n - got['independent']} of the {n} dreams of {target} from "
                              f"{'noise' if kind == 'noise' else 'a test digit'}")
            rows.append([str(target), "noise" if kind == "noise" else "test digit", r.pct(f"{k}.p_cnn", 1, True),
                         r.pct(f"{k}.p_independent", 1, True), f"{got['cnn']}/{n}", f"{got['independent']}/{n}"])
    return rows, {"n_dreams": str(total), "hits_cnn": str(hits["cnn"]), "hits_indep": str(hits["independent"]),
                  "all_cnn": hits["cnn"] == total, "all_indep": hits["independent"] == total,
                  "missed": and_list(missed) if missed else ""}


def _noise_vs_real(r: Results, targets: list[int]) -> str:
    """'stronger' | 'weaker' | 'same' | 'mixed': how sure the independent model is of dreams from noise against
    dreams from a test digit, per class under the noise rule (spread over dream seeds); 'same' when no class
    differs clearly, 'mixed' when the classes disagree."""
    verdicts = set()
    for t in targets:
        a, b = f"viz.dream.{t}.noise.p_independent", f"viz.dream.{t}.real.p_independent"
        if not (r.has(a) and r.has(b)):
            continue
        acc = [claims.Accuracy(r.value(k), 1, r.metrics.get(f"{k}.std"), int(r.metrics.get(f"{k}.n", 1)))
               for k in (a, b)]
        verdicts.add(claims.verdict(*acc))
    words = {claims.BETTER: "stronger", claims.WORSE: "weaker", claims.TIE: "same"}
    return words[verdicts.pop()] if len(verdicts) == 1 else ("mixed" if verdicts else "same")


def _facts(r: Results) -> dict[str, Any]:
    """Measured descriptions of the filters and feature maps (see cnnfacts)."""
    out: dict[str, Any] = {"has_kernels": False, "has_acts": False}
    k = cnnfacts.kernel_facts(r.path)
    if k:
        out |= {"has_kernels": True, "k_n": str(k["n"]), "k_contrast": str(k["contrast"]),
                "k_most_contrast": k["contrast"] >= 0.75 * k["n"], "k_r": f"{k['neighbour_r']:.2f}",
                "k_rough": k["neighbour_r"] < 0.3}
    a = cnnfacts.activation_facts(r.path, r.config.get("data_dir") or None)
    if len(a) >= 2:
        first, last = a[min(a)], a[max(a)]
        out |= {"has_acts": True, "r_first": f"{first['r']:.2f}", "r_last": f"{last['r']:.2f}",
                "shared_first": str(first["shared"]), "shared_last": str(last["shared"]), "top": str(first["top"]),
                "diverge": first["r"] - last["r"] >= 0.3}
    return out


def viz(r: Results) -> dict[str, Any]:
    s = r.summary("viz")
    models, dreams, acts = s["models"], s["dreams"], s["activations"]
    targets = sorted({row["target"] for row in dreams["table"]})
    rows, hits = _dream_rows(r, targets)
    if not rows:
        raise MissingResult("viz.dream.* metrics")
    layers = sorted(acts[next(iter(acts))])
    frac = {layer: sum(a[layer]["active_maps"] for a in acts.values())
            / sum(a[layer]["shape"][0] for a in acts.values()) for layer in layers}
    indep_model = str(models["independent"]["model"])
    indep = indep_model.replace("mlp_3_1", "MLP 3.1").replace("cnn_4_1", "CNN 4.1")
    settings = dreams["settings"]
    deep = [f for f in s["filters"] if f != layers[0]]
    figs = figures(r, "viz", "filters", "activations_2", "activations_9", "dreams")
    for stem in ("filters", "dreams"):
        need(figs[stem], f"viz/figures/{stem}")
    return {
        "table": {"header": ["class", "start", "p (CNN 4.1)", f"p ({indep})", "hits CNN", f"hits {indep}"],
                  "rows": rows, "align": "clrrrr"},
        "cnn_how": str(models["cnn_4_1"]["how"]),
        "cnn_acc": _model_acc(r, "cnn_4_1", "cnn_4_1", str(models["cnn_4_1"]["how"])),
        "indep": indep, "indep_how": str(models["independent"]["how"]),
        "indep_acc": _model_acc(r, "independent", indep_model, str(models["independent"]["how"])),
        "indep_is_mlp": indep_model.startswith("mlp"),
        "deep_shown": str(s["filters"][deep[0]]["shown"]) if deep else "",
        "active_first": f"{100 * frac[layers[0]]:.0f}%", "active_last": f"{100 * frac[layers[-1]]:.0f}%",
        "first": layers[0], "last": layers[-1], "sparser_deep": frac[layers[-1]] < frac[layers[0]],
        **hits, **_facts(r),
        "steps": str(settings.get("dream_steps", "")), "octaves": str(settings.get("octaves", "")),
        "pca": settings.get("dream_param", "pixel") == "pca", "pca_k": str(settings.get("pca_components", "")),
        "dream_seeds": str(len(dreams.get("seeds", []))),
        "dreams_wide": len(dreams.get("seeds", [])) > 3,  # one column per seed: a wide figure needs the full width
        "noise_vs_real": _noise_vs_real(r, targets),
        "start_p": and_list([f"{100 * float(p):.0f}%" for p in dreams.get("start_p_cnn", {}).values()])
        if dreams.get("start_p_cnn") else "",
        "fig": figs,
    }
