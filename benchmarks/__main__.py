"""Run every ``benchmarks/*_bench.py`` module as ``__main__``, in name order."""

import runpy
import sys
from pathlib import Path

for path in sorted(Path(__file__).parent.glob("*_bench.py")):
    print(f"== {path.stem}", flush=True)
    runpy.run_module(f"benchmarks.{path.stem}", run_name="__main__")
sys.exit(0)
