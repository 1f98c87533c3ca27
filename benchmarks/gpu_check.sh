#!/usr/bin/env bash
# One-shot GPU check (issue 19): the device tests, `mnistlab run --device cuda` of the quick profile and of the
# full profile's networks (per-study wall time, accuracies beside the CPU's), and our engine's throughput against a
# plain DataLoader loop on the same card; JSON + Markdown at --out, and docs/BENCHMARKS.md's "GPU check" section.
# Fits a 10-minute device call (budget 540 s). Steps and options: benchmarks/gpu_check.py (--help); this wrapper only
# picks the Python and its packages, then runs `python -m benchmarks gpu_check`.
#
#   benchmarks/gpu_check.sh --device cpu --smoke --out /tmp/gc/gpu_check.json   # dry run here: ~2 min on 2 cores
#   benchmarks/gpu_check.sh --fetch-wheels     # here (PyPI reachable): the packages the GPU image lacks -> .whl/
#   benchmarks/gpu_check.sh --out $OUT/gpu_check.json                          # on the GPU machine (carry .whl)
#   benchmarks/gpu_check.sh --from-json gpu_check.json --write-docs            # back here: results into the docs
#
# Python: $MNISTLAB_PY, else this checkout's .venv, else python3 (a GPU image has torch there but no .venv). The
# package runs from src/ of this checkout, installed or not; wheels in .whl/ are installed into /tmp when needed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing from the GPU image's python3 (Python 3.12 there; GPU_PYTHON=3.x if that changes): optuna and its needs,
# platformdirs.
WHEELS=(optuna alembic colorlog sqlalchemy mako platformdirs)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    mkdir -p .whl
    grep -qxF /.whl/ .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
    for name in "${WHEELS[@]}"; do  # the versions of this checkout's .venv (requirements.txt pins optuna's)
        version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")
        .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 -d .whl "$name==$version"
    done
    ls -l .whl
    exit 0
fi

PY=${MNISTLAB_PY:-}
if [[ -z "$PY" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
if compgen -G ".whl/*.whl" >/dev/null && ! "$PY" -c "import optuna, platformdirs" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/mnistlab-site \
        .whl/*.whl
    export PYTHONPATH=/tmp/mnistlab-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}
exec "$PY" -m benchmarks gpu_check --python "$PY" "$@"
