"""Benchmarks (not tests): each ``*_bench.py`` module has a ``main()`` and prints ratios against a
baseline measured in the same run. Run them all with ``python -m benchmarks``."""
