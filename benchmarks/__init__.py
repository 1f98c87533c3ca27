"""Benchmark scripts; a package so that `mnistlab bench` (src/mnistlab/bench.py) can import the harness."""
