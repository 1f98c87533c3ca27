"""The benchmarks as one suite (`python -m benchmarks`, benchmarks/registry.py): every module is registered, the
docs tables are rendered from the committed results files and are in sync with them, every results file carries
the machine record, and each benchmark's smallest setting runs. No timing assertions: speed is measured by the
benchmarks themselves, never in unit tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))  # the benchmarks/ package lives beside src/, not inside it

from benchmarks import common, docs, registry

from mnistlab import config
from mnistlab.errors import UserError
from mnistlab.models.cnn import VARIANTS


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m benchmarks ARGS` from the repository root, as the docs say to run it."""
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "MNISTLAB_THREADS": "1"}, timeout=timeout)


def test_every_module_is_a_registered_benchmark_or_a_helper() -> None:
    modules = {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    assert not set(registry.BENCHMARKS) & set(registry.HELPERS)
    assert modules - set(registry.BENCHMARKS) - set(registry.HELPERS) == set(), "register it in registry.py"
    assert set(registry.BENCHMARKS) | set(registry.HELPERS) <= modules  # no entry without its file


def test_list_names_every_benchmark_and_an_unknown_name_is_one_line() -> None:
    done = bench("--list")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == list(registry.BENCHMARKS)
    bad = bench("no_such_bench")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no_such_bench" in bad.stderr


def test_the_docs_are_in_sync_with_their_results_files_and_rendering_is_idempotent() -> None:
    text = (REPO / "docs" / "BENCHMARKS.md").read_text()
    names = [m["name"] for m in docs.MARKED.finditer(text)]
    assert {"drift", "step_profile", "peers"} <= set(names)
    once = docs.render_text(text)
    assert once == text, "run `python -m benchmarks render` and commit docs/BENCHMARKS.md"
    assert docs.render_text(once) == once


def test_render_rewrites_only_the_marked_tables(tmp_path: Path) -> None:
    result = {"rows": [{"model": "mlp_3_1", "prepare_cpu": "alloc", "epoch_s": [1.0, 1.5], "drift": 1.5,
                        "faults_per_step": 12345, "sys_s_per_step": 0.001}], "images": 1000}
    (tmp_path / "d.json").write_text(json.dumps(result))
    text = "# T\n\nprose | with a pipe\n\n<!-- bench:drift d.json -->\nstale table\n<!-- /bench -->\n\nmore prose\n"
    new = docs.render_text(text, tmp_path)
    assert new.startswith("# T\n\nprose | with a pipe\n\n<!-- bench:drift d.json -->\n| model (images per epoch) |")
    assert ("| MLP 3.1 (1,000) | allocator only | not recorded | 1.00, 1.50 | 1.50 | 12,345 | 0.0010 |\n"
            "<!-- /bench -->\n\nmore prose\n") in new
    assert "stale" not in new and docs.render_text(new, tmp_path) == new
    with pytest.raises(UserError, match="unknown benchmark"):
        docs.render_text("<!-- bench:nope d.json -->\n<!-- /bench -->\n", tmp_path)


def test_the_render_command_checks_and_writes(tmp_path: Path) -> None:
    doc = tmp_path / "B.md"
    doc.write_text("<!-- bench:step_profile benchmarks/results/2026-12-03-xeon-amx/step_profile.json -->\nold\n"
                   "<!-- /bench -->\n")
    assert bench("render", "--doc", str(doc), "--check").returncode == 1
    assert bench("render", "--doc", str(doc)).returncode == 0
    assert "| CNN 4.1 (128) | 42.3 |" in doc.read_text()
    assert bench("render", "--doc", str(doc), "--check").returncode == 0


def test_the_result_writer_puts_the_machine_record_in(tmp_path: Path) -> None:
    m = common.machine()
    doc = common.write_results("demo", {"rows": [1], "machine": "x86_64"}, tmp_path / "r" / "demo.json", "cmd", m)
    saved = json.loads((tmp_path / "r" / "demo.json").read_text())
    assert saved == json.loads(json.dumps(doc))
    assert saved["rows"] == [1] and saved["machine"] == "x86_64"  # a benchmark's own fields are kept as they are
    record = saved["bench"]["machine"]
    for key in ("cpu", "cpu_flags", "cores", "torch", "precision", "date", "load_before", "load_after"):
        assert key in record, key
    assert saved["bench"]["benchmark"] == "demo" and saved["bench"]["command"] == "cmd"
    assert not list((tmp_path / "r").glob(".*"))  # atomic: no temp file left beside it


def test_default_results_path_names_the_date_and_the_machine() -> None:
    m = {"date": "2026-12-03 13:50", "cpu": "Intel(R) Xeon(R) Processor", "cpu_flags": ["avx2", "amx_bf16"]}
    assert common.results_path("drift", m) == REPO / "benchmarks" / "results" / "2026-12-03-xeon-amx" / "drift.json"
    assert common.machine_slug({"cpu": "AMD EPYC 7B13", "cpu_flags": ["avx2"]}) == "epyc-avx2"
    assert common.machine_slug({"cpu": "x", "gpu": "NVIDIA H200"}) == "nvidia-h200"


def test_repeats_are_interleaved() -> None:
    calls: list[tuple[str, int]] = []
    runs = common.interleaved(["a", "b"], 3, lambda s, rep: calls.append((s, rep)) or rep * 10)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert runs == [[0, 10, 20], [0, 10, 20]]
    assert common.medians([{"x": 1.0}, {"x": 5.0}, {"x": 2.0}]) == {"x": 2.0, "n": 3}


def test_the_floor_counts_every_training_of_the_full_profile_at_its_batch() -> None:
    from benchmarks import floor

    cfg = config.full()
    planned = floor.jobs(cfg)
    finals = [j for j in planned if j.study == "mtl" and j.test == floor.TEST]
    assert len(finals) == 2 + len(cfg.mtl.lambdas) + int(cfg.mtl.uncertainty)  # 6.1's two nets, 6.2's, uw
    assert {j.model for j in finals} == {"fashion_items", "fashion_groups", "mtl"}
    trials = [j for j in planned if j.study == "mtl" and j.test == floor.VAL]
    assert len(trials) == cfg.mtl.tune_trials
    items = next(j for j in finals if j.model == "fashion_items")
    assert floor.steps(items) == cfg.mtl.epochs * -(-60_000 // cfg.mtl.batch_size)  # a last, short batch counts
    assert {j.model for j in planned if j.study == "cnn"} == {"cnn_4_1"} | {f"cnn_4_2_{v}" for v in VARIANTS}
    search = [j for j in planned if j.study == "mlp" and j.test == floor.VAL]
    assert sorted({j.batch for j in search}) == sorted(cfg.mlp.search_batches)


def test_a_bad_flag_or_a_missing_run_folder_is_one_line(tmp_path: Path) -> None:
    for args in (("threads", "--bogus"), ("deliverables", str(tmp_path / "none")),
                 ("drift", "--settings", "sideways")):
        done = bench(*args, "--out", str(tmp_path / "x.json"))
        assert done.returncode == 2, (args, done.stderr[-300:])
        assert done.stderr.strip().count("\n") == 0, done.stderr
    assert not (tmp_path / "x.json").exists()


SMALLEST = {  # benchmark -> its smallest setting; each takes 5-8 s on the shared 2-core machine
    "data_load": ["--repeats", "1"],
    "recipe": ["mlp_3_1", "--epochs", "1", "--images", "512"],
    "step_profile": ["--steps", "1", "--sizes", "256", "--models", "mlp_3_1"],
}
SLOW = {  # the same over ~10 s there (measured 11-30 s each with other work running)
    "threads": ["--repeats", "1"],
    "engine": ["--repeats", "1", "--images", "256", "--epochs", "1", "--threads", "1", "--models", "mlp_3_1"],
    "perceptron": ["--passes", "1", "--repeats", "1", "--max-iter", "1"],
    "floor": ["--profile", "quick", "--threads", "1", "--sizes", "256"],
    "workers": ["--models", "mlp_3_1", "--repeats", "1", "--seconds", "0.2"],
    "mtl_speed": ["--steps", "1", "--batch", "8"],
    "mtl_recipe": ["short", "--images", "256", "--grid", "128:1e-3", "--val-images", "256"],
    "drift": ["--epochs", "1", "--images", "256", "--models", "mlp_3_1", "--settings", "on"],
    "protocol": ["--models", "mlp_3_1", "--epochs", "1", "--no-constant", "--threads", "1"],
}


def run_smallest(name: str, args: list[str], tmp_path: Path) -> dict:
    out = tmp_path / f"{name}.json"
    done = bench(name, *args, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| --- |" in done.stdout  # the Markdown table of what it measured
    saved = json.loads(out.read_text())
    assert saved["bench"]["benchmark"] == name and saved["bench"]["machine"]["cores"] >= 1
    return saved


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_smallest_setting_runs(name: str, tmp_path: Path) -> None:
    saved = run_smallest(name, SMALLEST[name], tmp_path)
    assert common.load(tmp_path / f"{name}.json") == saved


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_smallest_setting_runs_slow(name: str, tmp_path: Path) -> None:
    run_smallest(name, SLOW[name], tmp_path)


def test_every_benchmark_has_a_smoke_setting_or_a_reason() -> None:
    needs_more = {"peers": "tests/test_bench.py", "viz_dreams": "a run's trained models",
                  "deliverables": "a finished run folder", "gpu_check": "its own --smoke dry run (2 minutes)"}
    assert set(SMALLEST) | set(SLOW) | set(needs_more) == set(registry.BENCHMARKS)
