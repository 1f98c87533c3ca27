"""`mnistlab bench`: the peer suite of the repository's benchmarks/ folder (throughput and time-to-accuracy against
Keras fit and a DataLoader loop), the same as `python -m benchmarks peers`; its flags: benchmarks/peers.py.

The measuring code stays outside the package (it installs TensorFlow into a venv of its own, which a package
should never do), so this needs a source checkout with the package installed (pip install -e .)."""

from __future__ import annotations

import sys
from pathlib import Path

from mnistlab.errors import UserError

ROOT = Path(__file__).resolve().parents[2]  # the source checkout (editable install)


def main(argv: list[str]) -> int:
    """Run benchmarks/peers.py's command line with `argv`."""
    if not (ROOT / "benchmarks" / "peers.py").is_file():
        raise UserError("mnistlab bench needs the repository's benchmarks/ folder: run it from a source checkout "
                        "(pip install -e .)")
    if str(ROOT) not in sys.path:  # benchmarks/ sits beside src/, like `python -m benchmarks` run from the root
        sys.path.insert(0, str(ROOT))
    from benchmarks import peers

    return peers.main(argv)
