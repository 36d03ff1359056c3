"""Benchmark: what glibc's malloc state does to a CPU training step (see green_estimate/allocator.py).

For each model of bench_accuracy.py, three fresh Python processes train it (batch 64, Adam): one as
a user's script would (``fresh``), one that first calls ``green_estimate.allocator.settle()`` — the
state calibration and every measurement beside a prediction run in (``settled``) — and one with
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` at 4 GiB in its environment, so glibc
serves every tensor, however large, from a heap it never hands back (``heap only``; predictions do
not price this state). Each warms up for 0.5 s, then times 5 windows of ≥ 0.3 s (median) and counts
the minor page faults per step (``getrusage``). The three processes of a model take turns, ``--rounds``
times (default 3), and each kind's figures are the medians over its rounds: on a shared VM one process
can run 20 % off the next. Prints one row per model and the machine.

    python tests/benchmarks/bench_allocator.py
    python tests/benchmarks/bench_allocator.py --models resnet-small,vgg-small
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAP_ONLY_BYTES = 4 << 30  # glibc's mmap and trim thresholds for the "heap only" process


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
    ap.add_argument("--rounds", type=int, default=3, help="turns of the three processes per model (default 3)")
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
    print("| model | fresh process ms | faults/step | settled ms | faults/step | heap only ms | faults/step "
          "| fresh / settled | heap only / settled |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    heap_env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(HEAP_ONLY_BYTES), "MALLOC_TRIM_THRESHOLD_": str(HEAP_ONLY_BYTES)}
    for name in names:
        runs: dict[str, list[dict]] = {"fresh": [], "settled": [], "heap": []}
        for _ in range(args.rounds):
            for kind, extra, env in (("fresh", [], None), ("settled", ["--settled"], None), ("heap", [], heap_env)):
                cmd = [sys.executable, __file__, "--one", name, *extra]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, env=env).stdout
                runs[kind].append(json.loads(out.strip().splitlines()[-1]))
        f, s, h = ({k: statistics.median(r[k] for r in runs[kind]) for k in ("step_s", "faults_per_step")}
                   for kind in ("fresh", "settled", "heap"))
        print(f"| {name} | {f['step_s'] * 1e3:.2f} | {f['faults_per_step']:.0f} | {s['step_s'] * 1e3:.2f} | "
              f"{s['faults_per_step']:.0f} | {h['step_s'] * 1e3:.2f} | {h['faults_per_step']:.0f} | "
              f"{f['step_s'] / s['step_s']:.2f} | {h['step_s'] / s['step_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
