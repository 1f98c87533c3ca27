"""`python -m benchmarks`: list, run and render the benchmarks (benchmarks/registry.py)."""

import sys

from benchmarks.registry import main

sys.exit(main(sys.argv[1:]))
