"""Task 5: visualising the CNN. The dreams' probabilities and hits from metrics.json (`viz.dream.*`,
`viz.deepdream.*`); which models were used, the kernel and feature-map facts and the DeepDream table from
viz/summary.json, with each model's test accuracy as the study that trained it measured it."""

from __future__ import annotations

from typing import Any

from mnistlab.deliverables import claims
from mnistlab.deliverables.results import MissingResult, Results
from mnistlab.deliverables.sections.common import and_list, figures, need

START = {"pca": "noise, PCA prior", "pixel": "noise, pixels", "real": "test digit"}  # table's 'start' column


def _kinds(dreams: dict[str, Any]) -> dict[str, str]:
    """{kind: how} of the run's class dreams (older runs: one kind from noise, in `noise_param`)."""
    return dreams.get("kinds") or {"noise": str(dreams.get("noise_param", "pixel")), "real": "real"}


def _dream_rows(r: Results, targets: list[int], kinds: dict[str, str]) -> tuple[list[list[str]], dict[str, Any]]:
    """Table rows, and per way of making a dream (pca | pixel | real) how many dreams there are and how many
    of them each model classifies as their target."""
    rows = []
    hits = {how: {"n": 0, "cnn": 0, "independent": 0} for how in kinds.values()}
    for target in targets:
        for kind, how in kinds.items():
            k = f"viz.dream.{target}.{kind}"
            if not r.has(f"{k}.p_cnn"):
                continue
            n = int(r.metrics.get(f"{k}.p_cnn.n", 1))
            got = {m: int(r.value(f"{k}.hits_{m}")) for m in ("cnn", "independent")}
            hits[how] = {"n": hits[how]["n"] + n, **{m: hits[how][m] + got[m] for m in got}}
            rows.append([str(target), START[how], r.pct(f"{k}.p_cnn", 1, True),
                         r.pct(f"{k}.p_independent", 1, True), f"{got['cnn']}/{n}", f"{got['independent']}/{n}"])
    text = {f"{m}_{how}": str(h[m]) for how, h in hits.items() for m in h}
    text |= {f"all_{how}": h["n"] > 0 and h["independent"] == h["n"] for how, h in hits.items()}
    total = {m: sum(h[m] for h in hits.values()) for m in ("n", "cnn", "independent")}  # the conclusion's
    return rows, text | {"n_dreams": str(total["n"]), "hits_cnn": str(total["cnn"]),
                         "hits_indep": str(total["independent"])}


def _compare_kinds(r: Results, targets: list[int], a: str, b: str) -> dict[str, str]:
    """How sure the independent model is of dreams of kind a against kind b, class by class under the noise rule
    (spread over dream seeds): {'weaker' | 'stronger' | 'tie': 'class 2' / 'classes 2 and 9' / ''}."""
    found: dict[str, list[str]] = {claims.WORSE: [], claims.BETTER: [], claims.TIE: []}
    for t in targets:
        ka, kb = f"viz.dream.{t}.{a}.p_independent", f"viz.dream.{t}.{b}.p_independent"
        if not (r.has(ka) and r.has(kb)):
            continue
        acc = [claims.Accuracy(r.value(k), 1, r.metrics.get(f"{k}.std"), int(r.metrics.get(f"{k}.n", 1)))
               for k in (ka, kb)]
        found[claims.verdict(*acc)].append(str(t))
    words = {claims.WORSE: "weaker", claims.BETTER: "stronger", claims.TIE: "tie"}
    return {words[v]: (f"class {ts[0]}" if len(ts) == 1 else f"classes {and_list(ts)}") if ts else ""
            for v, ts in found.items()}


def _span(values: list[float], fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    """'1.6' or '1.6 to 2.1': the range of some measured values, as they print."""
    lo, hi = (fmt.format(scale * v) for v in (min(values), max(values)))
    return lo if lo == hi else f"{lo} to {hi}"


def _deepdream(dd: dict[str, Any], indep: str) -> dict[str, Any]:
    """What the classic DeepDream of the test digits did, in numbers the text can state: energy gains and
    where the added ink lies per layer, and which dreams either model no longer reads as their digit."""
    rows = dd.get("table") or []
    dreams = [row for row in rows if row["image"] != "start"]
    if not dreams:
        return {"has_dd": False}
    band = {row["digit"]: row["band_area"] for row in rows if row["image"] == "start"}
    layers = dd["layers"]
    per = {layer: [row for row in dreams if row["image"] == layer] for layer in layers}
    changed = [phrase for row in dreams if (phrase := _changed(row, indep))]
    return {
        "has_dd": True, "dd_layers": and_list(layers), "dd_steps": str(dd["steps_per_octave"]),
        "dd_sizes": and_list([str(x) for x in dd["sizes"]]), "dd_n": str(len(dreams)),
        "dd_gain": "the energy of " + and_list([f"{layer} {_span([x['energy_gain'] for x in per[layer]])}-fold"
                                                for layer in layers]),
        "dd_near": and_list([f"{_span([x['near_strokes'] for x in per[layer]], '{:.0f}%', 100)} ({layer})"
                             for layer in layers]),
        "dd_band": _span(list(band.values()), "{:.0f}%", 100),
        "dd_near_most": all(x["near_strokes"] > 0.5 for x in dreams),
        "dd_near_above": all(x["near_strokes"] > band[x["digit"]] for x in dreams),
        "dd_kept_cnn": str(sum(x["pred_cnn"] == x["digit"] for x in dreams)),
        "dd_kept_indep": str(sum(x["pred_independent"] == x["digit"] for x in dreams)),
        "dd_changed": and_list(changed) if changed else "",
    }


def _facts(r: Results) -> dict[str, Any]:
    """Descriptions of the filters and feature maps, from what the viz study measured on them (older runs lack
    these tables: the text then leaves those sentences out)."""
    out: dict[str, Any] = {"has_kernels": False, "has_acts": False}
    s = r.summary("viz")
    k = s.get("kernel_stats") or {}
    if k:
        out |= {"has_kernels": True, "k_n": str(k["n"]), "k_contrast": str(k["contrast"]),
                "k_most_contrast": k["contrast"] >= 0.75 * k["n"], "k_r": f"{k['neighbour_r']:.2f}",
                "k_rough": k["neighbour_r"] < 0.3}
    a = s.get("map_similarity") or {}
    if len(a) >= 2:
        first, last = a[min(a)], a[max(a)]
        out |= {"has_acts": True, "r_first": f"{first['r']:.2f}", "r_last": f"{last['r']:.2f}",
                "shared_first": str(first["shared"]), "shared_last": str(last["shared"]), "top": str(first["top"]),
                "diverge": first["r"] - last["r"] >= 0.3}
    return out


def _changed(row: dict[str, Any], indep: str) -> str:
    """'CNN 4.1 reads the conv3 dream of the 2 as a 6' (or the independent model, or both); '' if neither does."""
    who = [(name, row[f"pred_{m}"]) for m, name in (("cnn", "CNN 4.1"), ("independent", f"the {indep}"))
           if row[f"pred_{m}"] != row["digit"]]
    if not who:
        return ""
    dream = f"the {row['image']} dream of the {row['digit']}"
    if len(who) == 1:
        return f"{who[0][0]} reads {dream} as a {who[0][1]}"
    if who[0][1] == who[1][1]:
        return f"both read {dream} as a {who[0][1]}"
    return f"CNN 4.1 and the {indep} read {dream} as a {who[0][1]} and a {who[1][1]}"


def viz(r: Results) -> dict[str, Any]:
    s = r.summary("viz")
    models, dreams, acts = s["models"], s["dreams"], s["activations"]
    targets = sorted({row["target"] for row in dreams["table"]})
    kinds = _kinds(dreams)
    rows, hits = _dream_rows(r, targets, kinds)
    if not rows:
        raise MissingResult("viz.dream.* metrics")
    layers = sorted(acts[next(iter(acts))])
    frac = {layer: sum(a[layer]["active_maps"] for a in acts.values())
            / sum(a[layer]["shape"][0] for a in acts.values()) for layer in layers}
    indep_model = str(models["independent"]["model"])
    indep = indep_model.replace("mlp_3_1", "MLP 3.1").replace("cnn_4_1", "CNN 4.1")
    settings = dreams["settings"]
    deep = [f for f in s["filters"] if f != layers[0]]
    figs = figures(r, "viz", "filters", "activations_2", "activations_9", "dreams", "deepdream")
    for stem in ("filters", "dreams"):
        need(figs[stem], f"viz/figures/{stem}")
    by_how = {how: kind for kind, how in kinds.items()}
    return {
        "table": {"header": ["class", "start", "p (CNN 4.1)", f"p ({indep})", "hits CNN", f"hits {indep}"],
                  "rows": rows, "align": "clrrrr"},
        "cnn_how": str(models["cnn_4_1"]["how"]),
        "cnn_acc": r.pct("viz.cnn_4_1.test_acc"),
        "indep": indep, "indep_how": str(models["independent"]["how"]),
        "indep_acc": r.pct("viz.independent.test_acc"),
        "indep_is_mlp": indep_model.startswith("mlp"),
        "deep_shown": str(s["filters"][deep[0]]["shown"]) if deep else "",
        "active_first": f"{100 * frac[layers[0]]:.0f}%", "active_last": f"{100 * frac[layers[-1]]:.0f}%",
        "first": layers[0], "last": layers[-1], "sparser_deep": frac[layers[-1]] < frac[layers[0]],
        **hits, **_facts(r), **_deepdream(s.get("deepdream") or {}, indep),
        "steps": str(settings.get("dream_steps", "")), "octaves": str(settings.get("octaves", "")),
        "pca": "pca" in by_how, "pixel": "pixel" in by_how, "pca_k": str(settings.get("pca_components", "")),
        "dream_seeds": str(len(dreams.get("seeds", []))),
        "dreams_wide": len(dreams.get("seeds", [])) > 3,  # one column per seed: a wide figure needs the full width
        "pvp": _compare_kinds(r, targets, by_how["pixel"], by_how["pca"]) if {"pixel", "pca"} <= set(by_how)
        else {"weaker": "", "stronger": "", "tie": ""},  # the independent model on pixel against PCA-prior dreams
        "start_p": and_list([f"{100 * float(p):.0f}%" for p in dreams.get("start_p_cnn", {}).values()])
        if dreams.get("start_p_cnn") else "",
        "fig": figs,
    }
