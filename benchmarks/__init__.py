"""The benchmarks, one package: run them from the repository root with `python -m benchmarks` (see
benchmarks/registry.py); shared helpers in benchmarks/common.py."""
