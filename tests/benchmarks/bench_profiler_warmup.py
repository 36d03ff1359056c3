"""Benchmark: in-context op times recorded after a warm-up step under the profiler, or without one.

Runs one CPU calibration (the quick suite, or the full one with ``--full``; the estimate meter) and
profiles every network's steps both ways, one right after the other: as calibration does
(:func:`green_estimate.calibration.incontext.profiled_steps`: one profiler session, a warm-up step
under it, then the recorded steps) and as it did before code 2a9aa81 (a profiler session per step,
its first op right after the profiler starts). Everything else is shared: the count, the whole-step windows, the pace, the
device probe. Writes to ``OUT``:

- ``warmup.json`` and ``warmup.samples.jsonl``: the calibration as ``calibrate`` makes it;
- ``plain.samples.jsonl``: the same samples with the plain sessions' op times;
- ``warmup-refit.json`` and ``plain.json``: both samples files fitted by the same code
  (``calibration/refit_profile.py``), so the two profiles differ only in how the op times were recorded.

It prints the first op's time both ways (median over networks) and each profile's leave-family-out
error. Price models with both afterwards (measured there, in one run):

    python tests/benchmarks/bench_profiler_warmup.py OUT [--full]
    python tests/benchmarks/bench_accuracy.py --profiles OUT/plain.json,OUT/warmup-refit.json
    python tests/benchmarks/bench_validate_reprice.py --run NAME=PROFILE,FOLDER \\
        --profile plain=OUT/plain.json --profile warmup=OUT/warmup-refit.json
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from green_estimate.calibration import incontext, runner  # noqa: E402
from green_estimate.calibration.calibrator import calibrate  # noqa: E402

plain_profs: list[Any] = []      # this network's plain sessions, waiting for their keys
plain_times: list[dict] = []     # their events' times, one dict per step
plain_assigned: list[list] = []  # their op times, matched to the count
plain_ops: list[list] = []       # per network, in measuring order: the plain op times


def install() -> None:
    """Wrap calibration's profiling so that every profiled step is also recorded the plain way."""
    from torch.profiler import profile

    warm, read, assign, measure = (incontext.profiled_steps, incontext.profiled_times, incontext.assign_times,
                                   runner.measure_network)

    def both(step, sync, activities, n):
        for _ in range(n):
            with incontext._native_stderr_silenced(), profile(activities=activities) as prof:
                step()
                sync()
            plain_profs.append(prof)
        return warm(step, sync, activities, n)

    def times(prof, keys, device):
        plain_times.extend(read(p, keys, device) for p in plain_profs)
        plain_profs.clear()
        return read(prof, keys, device)

    def assigned(ops, steps):
        plain_assigned.append(assign(ops, list(plain_times)))
        plain_times.clear()
        return assign(ops, steps)

    def measured(*args, **kwargs):
        rec = measure(*args, **kwargs)
        plain_ops.append(plain_assigned.pop())
        plain_assigned.clear()
        return rec

    incontext.profiled_steps, incontext.profiled_times, incontext.assign_times = both, times, assigned
    runner.measure_network = measured


def first_op_ratio(warm: list[dict], plain: list[dict]) -> tuple[float, float, float]:
    """Median over networks of the first counted op's time both ways (µs), and of their ratio."""
    t = incontext.TIME
    pairs = [(p["ops"][0][t], w["ops"][0][t]) for w, p in zip(warm, plain)
             if w["ops"] and w["ops"][0][t] and p["ops"][0][t]]
    return (1e6 * statistics.median(p for p, _ in pairs), 1e6 * statistics.median(w for _, w in pairs),
            statistics.median(p / w for p, w in pairs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for the two profiles and their samples")
    ap.add_argument("--full", action="store_true", help="the full suite (default: the quick one)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    from green_estimate.meters.estimate import cpu_model_name

    print(f"machine: {cpu_model_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}", flush=True)
    install()
    t0 = time.monotonic()
    calibrate(quick=not args.full, out=args.out / "warmup.json",
              on_progress=lambda done, total, case: print(f"  {done}/{total} {case}", flush=True)
              if done % 20 == 0 else None)
    print(f"calibrated (both ways) in {time.monotonic() - t0:.0f} s")
    lines = (args.out / "warmup.samples.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    warm = [r for r in records if r.get("type") == "sample"]
    if len(warm) != len(plain_ops):
        sys.exit(f"{len(warm)} samples but {len(plain_ops)} networks recorded the plain way: not one per network")
    t = incontext.TIME
    plain = [{**s, "ops": [row[:t] + [pt] + row[t + 1:] for row, pt in zip(s["ops"], times)]}
             for s, times in zip(warm, plain_ops)]
    with open(args.out / "plain.samples.jsonl", "w") as fh:
        for r in records:
            if r.get("type") != "sample":
                fh.write(json.dumps(r) + "\n")
        for s in plain:
            fh.write(json.dumps(s) + "\n")
    p_us, w_us, ratio = first_op_ratio(warm, plain)
    print(f"first op of a step: plain session {p_us:.0f} µs, after a warm-up step {w_us:.0f} µs "
          f"(median over {len(warm)} networks; median ratio {ratio:.2f})")
    for name, samples in (("warmup-refit", "warmup"), ("plain", "plain")):
        shutil.copy(args.out / "warmup.json", args.out / f"{name}.json")
        subprocess.run([sys.executable, str(ROOT / "calibration" / "refit_profile.py"),
                        str(args.out / f"{samples}.samples.jsonl"), str(args.out / f"{name}.json")], check=True)
        iv = json.loads((args.out / f"{name}.json").read_text())["step_model"]["interval"]["time_s"]
        print(f"{name}: leave-family-out median error {100 * iv['median_ape']:.1f}%, "
              f"{100 * iv['within_15pct']:.0f}% of networks within ±15%")


if __name__ == "__main__":
    main()
