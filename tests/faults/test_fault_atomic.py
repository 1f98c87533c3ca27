"""Nothing half-written, checked two ways: the atomic writers themselves under failure, and a scan of the package
source for any write that bypasses them (so a study that lands later with a plain `savefig(path)` fails here)."""

from __future__ import annotations

import ast
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from faultkit import audit, record

from mnistlab import runs
from mnistlab.runs import RunDir, atomic_path, atomic_write_json, is_temp, sweep_temps

SRC = Path(runs.__file__).resolve().parent

# Calls that write a file. Each must sit in a `with atomic_path(...)` block (same or enclosing `with`), inside one
# of the atomic primitives below, or carry a `# atomic: <why>` comment on its line.
WRITERS = {"write_text", "write_bytes", "savefig", "save", "savez", "savez_compressed", "to_csv", "dump",
           "writestr", "ZipFile", "compile"}
PRIMITIVES = {("runs.py", "atomic_write_bytes"), ("runs.py", "atomic_path"), ("runs.py", "__enter__"),
              ("runs.py", "log_event"), ("runs.py", "open")}
EXEMPT = {"SummaryWriter"}  # TensorBoard: an append-only event log; a resumed fit purges the steps after its checkpoint


def _writes_to_file(node: ast.Call, buffers: set[str]) -> bool:
    """Does this call write a file? `buffers`: names bound to io.BytesIO()/StringIO() in the function (in memory)."""
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    targets = [ast.unparse(a) for a in node.args[:2]]
    if any(t in buffers or "BytesIO(" in t or "StringIO(" in t for t in targets):
        return False
    if name == "open":  # open(path, mode) / os.open(path, flags)
        if isinstance(f, ast.Attribute):  # os.open: flags that create or write
            return "O_WRONLY" in ast.unparse(node) or "O_RDWR" in ast.unparse(node)
        mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
        return mode is not None and any(c in ast.unparse(mode) for c in "wax+")
    if name == "compile":  # typst.compile(..., output=path) writes; re.compile does not
        return any(k.arg == "output" for k in node.keywords)
    if name == "dump":  # json.dump(obj, file) / pickle.dump: a file object opened elsewhere is what counts
        return False
    if name in ("save", "savez", "savez_compressed"):
        return ast.unparse(f).split(".")[0] in ("np", "numpy", "torch")
    if name == "ZipFile":
        return any(isinstance(a, ast.Constant) and a.value in ("w", "a", "x") for a in node.args[1:]) or any(
            k.arg == "mode" and isinstance(k.value, ast.Constant) and k.value.value in ("w", "a", "x")
            for k in node.keywords)
    return name in WRITERS and isinstance(f, ast.Attribute)  # a bare `to_csv(rows)` is a local function


def direct_writes(root: Path = SRC) -> list[str]:
    """`file:line: call` for every write in the package that bypasses the atomic writers."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        tree = ast.parse(path.read_text())
        _visit(tree, path, root, lines, [], False, found)
    return found


def _visit(node: ast.AST, path: Path, root: Path, lines: list[str], funcs: list[str], guarded: bool,
           found: list[str], buffers: frozenset[str] = frozenset()) -> None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        funcs = [*funcs, node.name]
        buffers = frozenset(ast.unparse(t) for n in ast.walk(node) if isinstance(n, ast.Assign)
                            and "IO(" in ast.unparse(n.value) for t in n.targets)
    if isinstance(node, ast.With) and any("atomic_path(" in ast.unparse(i.context_expr) for i in node.items):
        guarded = True
    if isinstance(node, ast.Call) and _writes_to_file(node, buffers) and not guarded:
        in_primitive = any((path.name, f) in PRIMITIVES for f in funcs)
        marked = "# atomic:" in lines[node.lineno - 1]
        if not in_primitive and not marked:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)[:90]}")
    for child in ast.iter_child_nodes(node):
        _visit(child, path, root, lines, funcs, guarded, found, buffers)


def test_no_direct_writes_in_the_package():
    found = direct_writes()
    record("a write that bypasses the atomic writers", f"AST scan of {len(list(SRC.rglob('*.py')))} files in "
           "src/mnistlab", outcome=f"{len(found)} found", half_written=found, traceback=False)
    assert found == []


def test_the_scan_finds_direct_writes(tmp_path):
    """The scan itself: plain writes are found, guarded and marked ones are not."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(
        "import numpy as np, torch\n"
        "def f(fig, p, x):\n"
        "    fig.savefig(p)\n"
        "    np.save(p, x)\n"
        "    torch.save(x, p)\n"
        "    open(p, 'w').write('x')\n"
        "    with atomic_path(p) as tmp:\n"
        "        fig.savefig(tmp)\n"
        "    open(p).read()\n"
        "    p.write_text('x')  # atomic: test marker\n"
        "    buf = io.BytesIO()\n"
        "    np.save(buf, x)\n")
    found = direct_writes(tmp_path / "pkg")
    assert [f.split(":")[1] for f in found] == ["3", "4", "5", "6"]


# ---------------------------------------------------------------- the writers under failure
def test_writer_killed_mid_write_leaves_old_file_and_a_swept_temp(tmp_path):
    """kill -9 between writing the temp file and renaming it: the old file stays whole; the next owner of the
    folder removes the temp file."""
    rd = RunDir.open(tmp_path / "run", {})
    atomic_write_json(rd.path / "metrics.json", {"v": 1})
    code = ("import os, sys\nimport mnistlab.runs as r\n"
            "os.replace = lambda a, b: os.kill(os.getpid(), 9)\n"  # die just before the rename
            f"r.atomic_write_json({str(rd.path / 'metrics.json')!r}, {{'v': 2}})\n")
    res = subprocess.run([sys.executable, "-c", code])
    stray = [p.name for p in rd.path.iterdir() if is_temp(p)]
    with rd:
        pass
    left = audit(rd.path)
    record("kill -9 inside an atomic write", "SIGKILL after the temp file is written, before the rename",
           outcome=f"old file kept, {len(stray)} temp file swept by the next owner", traceback=False,
           half_written=left)
    assert res.returncode == -9 and stray and runs.read_json(rd.path / "metrics.json") == {"v": 1}
    assert left == []


def test_atomic_path_failure_keeps_old_file(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_log_event_failed_write_leaves_no_half_line(tmp_path, monkeypatch):
    rd = RunDir.open(tmp_path / "run", {})
    rd.log_event({"epoch": 1})
    real = os.write

    def short_write(fd, data):  # what a full disk does: part of the line, then ENOSPC
        real(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(OSError) as info:
        rd.log_event({"epoch": 2, "loss": 0.5})
    monkeypatch.undo()
    text = (rd.path / "metrics.jsonl").read_text()
    record("disk full while appending to metrics.jsonl", "os.write writes half the line, then ENOSPC",
           outcome="line cut back off", message=f"{info.value.strerror}: {info.value.filename}", traceback=False,
           half_written=audit(rd.path, lock_ok=True))
    assert text == '{"epoch": 1}\n' and info.value.filename == str(rd.path / "metrics.jsonl")


def test_sweep_takes_only_temp_files(tmp_path):
    names = [".metrics.json.ab12cd_9.tmp", ".fig.png.zz99yy00.tmp.png", "metrics.json", ".done", ".lock",
             "fig.png", ".hidden.tmp"]
    for n in names:
        (tmp_path / n).write_text("x")
    swept = sorted(p.name for p in sweep_temps(tmp_path))
    assert swept == [".fig.png.zz99yy00.tmp.png", ".metrics.json.ab12cd_9.tmp"]


def test_artifacts_get_the_umask_permissions(tmp_path):
    atomic_write_json(tmp_path / "a.json", {})
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
    umask = os.umask(0)
    os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"a.json": 0o666 & ~umask, "b.bin": 0o666 & ~umask}  # mkstemp alone would give 0600
