"""Benchmark: what glibc's malloc state does to a CPU training step (see green_estimate/allocator.py).

For each model of bench_accuracy.py, two fresh Python processes train it (batch 64, Adam): one as a
user's script would (``fresh``), one that first calls ``green_estimate.allocator.settle()`` — the
state calibration and every measurement beside a prediction run in (``settled``). Each warms up for
0.5 s, then times 5 windows of ≥ 0.3 s (median) and counts the minor page faults per step
(``getrusage``). The two processes of a model run one after the other, so the VM's drift between
them is small beside the effect. Prints one row per model and the machine.

    python tests/benchmarks/bench_allocator.py
    python tests/benchmarks/bench_allocator.py --models resnet-small,vgg-small
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def one(name: str, settled: bool) -> dict:
    """Measure ``name`` in this (fresh) process."""
    import resource

    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    import bench_accuracy as B
    import torch

    if settled:
        from green_estimate.allocator import settle

        settle()
    torch.manual_seed(0)
    w = B.workload(name)
    model = w.build()
    x = w.example_input(B.BATCH) if w.example_input else torch.randn(B.BATCH, *w.input_shape)
    step = B.make_step(model, (x,), "adam")
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < 0.5:
        step()
        n += 1
    iters = max(1, int(0.3 / ((time.perf_counter() - t0) / n)))
    times, faults = [], 0
    for _ in range(5):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t = time.perf_counter()
        for _ in range(iters):
            step()
        times.append((time.perf_counter() - t) / iters)
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    return {"step_s": statistics.median(times), "faults_per_step": faults / (5 * iters)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", help="comma-separated names (default: all of bench_accuracy.py)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--settled", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.settled)))
        return
    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    import bench_accuracy as B

    names = args.models.split(",") if args.models else list(B.MODELS)
    print(f"machine: {B.machine()}\n")
    print("| model | fresh process ms | faults/step | settled ms | faults/step | fresh / settled |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        r = {}
        for settled in (False, True):
            cmd = [sys.executable, __file__, "--one", name] + (["--settled"] if settled else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            r[settled] = json.loads(out.strip().splitlines()[-1])
        f, s = r[False], r[True]
        print(f"| {name} | {f['step_s'] * 1e3:.2f} | {f['faults_per_step']:.0f} | {s['step_s'] * 1e3:.2f} | "
              f"{s['faults_per_step']:.0f} | {f['step_s'] / s['step_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
