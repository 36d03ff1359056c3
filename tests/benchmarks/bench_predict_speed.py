"""Benchmark: wall time of `green-estimate predict` for a ResNet-sized CNN (goal ≤ 3 s here).

Runs the real command in a fresh process (so `import torch` is included), five times, and prints
the median and the spread:

    python tests/benchmarks/bench_predict_speed.py
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CMD = [sys.executable, "-m", "green_estimate", "predict", str(ROOT / "green_estimate/examples/resnet18.py"),
       "--batch-size", "32", "--samples", "1281167", "--epochs", "90", "--json"]


def main() -> None:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(CMD, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    print(f"predict ResNet-18 (11.7 M parameters, batch 32): median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs (goal ≤ 3 s)")


if __name__ == "__main__":
    main()
