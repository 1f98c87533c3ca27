"""Smoke tests of the benchmark harness (`mnistlab bench`): it runs end to end on a tiny budget, writes
results.json and a Markdown report, and reports a missing peer instead of crashing. No timing assertions:
speed is measured by the harness itself, on a quiet machine, never in unit tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli

sys.path.insert(0, str(REPO))  # the benchmarks/ package lives beside src/, not inside it

from benchmarks import report, torch_peers

from mnistlab import config


def test_bench_smoke_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = run_cli("bench", "--out", str(out), "--models", "mlp_3_1", "--variants", "default",
                   "--peers", "dataloader,keras", "--phases", "throughput", "--images", "256", "--repeats", "1",
                   "--no-install", env={"MNISTLAB_BENCH_KERAS_VENV": str(tmp_path / "no-venv")}, timeout=300)
    assert done.returncode == 0, done.stderr
    res = json.loads((out / "results.json").read_text())
    by_runner = {t["runner"]: t for t in res["trials"]}
    for runner in ("ours", "dataloader"):
        assert by_runner[runner]["images_per_s"] > 0
        assert 0.0 <= by_runner[runner]["test_acc"] <= 1.0
        assert by_runner[runner]["images"] == 256
    assert "no TensorFlow" in by_runner["keras"]["error"]  # the missing peer is a row, not a crash
    assert res["params"]["mlp_3_1"] == 1_796_010
    text = (out / "report.md").read_text()
    assert "| ours: default | " in text and "| Keras fit | | failed:" in text
    assert not list(out.glob("*.npz"))  # the data copies for Keras are cleaned up


def test_bench_rejects_bad_flags_in_one_line() -> None:
    done = run_cli("bench", "--models", "resnet50")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown resnet50" in done.stderr


def test_flop_count_of_mlp_matches_hand_count() -> None:
    # forward 2*(784*1000 + 1000*1000 + 1000*10); weight gradients the same; input gradients for layers 2 and 3
    # only (the image needs none)
    fwd = 2 * (784 * 1000 + 1000 * 1000 + 1000 * 10)
    assert torch_peers.train_flops_per_image("mlp_3_1") == pytest.approx(2 * fwd + 2 * (1000 * 1000 + 1000 * 10))


def test_ratios_pair_trials_of_the_same_repeat() -> None:
    # ours is 2x Keras in every repeat while the machine's speed drifts 4x: the paired ratio stays 2x
    ours = [{"repeat": r, "images_per_s": 200.0 * (r + 1)} for r in range(3)]
    keras = [{"repeat": r, "images_per_s": 100.0 * (r + 1)} for r in range(3)]
    assert report._ratio(ours, keras) == pytest.approx(2.0)
    assert report._ratio(ours, []) is None


def test_write_docs_replaces_only_our_section(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# B\n\n## Other (issue 2)\n\nkeep me\n\n{report.SECTION}\n\nold numbers\n\n## Later\n\nkeep\n")
    report.write_docs(doc, f"{report.SECTION}\n\nnew numbers\n")
    text = doc.read_text()
    assert "old numbers" not in text and "new numbers" in text
    assert "keep me" in text and "## Later\n\nkeep" in text


def test_merge_keeps_rows_of_every_part() -> None:
    base = {"plan": {}, "machine": {"bench_wall_s": 60.0}, "peak": {"bf16": 1.0}, "command": "mnistlab bench a"}
    a = {**base, "trials": [{"model": "mlp_3_1"}], "tta": [], "flops": {"mlp_3_1": 1.0}, "params": {"mlp_3_1": 1}}
    b = {**base, "trials": [], "tta": [{"model": "cnn_4_1"}], "flops": {"cnn_4_1": 2.0}, "params": {"cnn_4_1": 2},
         "command": "mnistlab bench b"}
    res = report.merge([a, b])
    assert len(res["trials"]) == 1 and len(res["tta"]) == 1
    assert set(res["flops"]) == {"mlp_3_1", "cnn_4_1"} and res["machine"]["bench_wall_s"] == 120.0
    assert "bench a" in res["command"] and "bench b" in res["command"]


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "benchmarks" / ".keras-venv" / "bin" / "python").is_file(),
                    reason="the Keras venv is made by the first `mnistlab bench` run")
def test_keras_models_match_ours_parameter_for_parameter() -> None:
    import subprocess

    from mnistlab.models import param_count
    from mnistlab.models import registry as models

    code = ("import sys; sys.argv = ['x']; import keras_peer as k; "
            "print(*[k.build(m, 'float32').count_params() for m in ('mlp_3_1', 'cnn_4_1', 'fashion_items')])")
    done = subprocess.run([str(REPO / "benchmarks" / ".keras-venv" / "bin" / "python"), "-c", code],
                          capture_output=True, text=True, cwd=REPO / "benchmarks", timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    counts = [int(v) for v in done.stdout.split()[-3:]]
    assert counts == [param_count(models.create(m)) for m in ("mlp_3_1", "cnn_4_1", "fashion_items")]


def test_replace_section_swaps_one_section_and_appends_a_missing_one(tmp_path: Path) -> None:
    from benchmarks.docs import replace_section

    doc = tmp_path / "doc.md"
    doc.write_text("# T\n\n## A\nold a\n\n## B\nb\n")
    replace_section(doc, "## A", "## A\nnew a\n")
    assert doc.read_text() == "# T\n\n## A\nnew a\n\n## B\nb\n"
    replace_section(doc, "## C", "## C\nc\n")
    assert doc.read_text() == "# T\n\n## A\nnew a\n\n## B\nb\n\n## C\nc\n"


def test_the_engine_default_trains_each_model_as_its_study_does(monkeypatch, mnist):
    """"ours: default" must be the study's configuration (CNN 4.1 in channels_last), "contiguous" the one switch
    off; the specs `fit` receives say so."""
    seen = []
    monkeypatch.setattr(torch_peers, "fit", lambda model, data, spec, **kw: seen.append(spec))
    monkeypatch.setattr(torch_peers, "evaluate", lambda *a, **kw: {"acc": 0.0})
    for variant in ("default", "contiguous"):
        with pytest.raises(IndexError):  # the stubbed fit reports no epochs: only the spec is of interest here
            torch_peers.engine_trial("cnn_4_1", mnist, torch_peers.VARIANTS[variant], images=64, timed_epochs=1,
                                     seed=0, device="cpu")
    assert [s.channels_last for s in seen] == [config.full().cnn.channels_last, False]
