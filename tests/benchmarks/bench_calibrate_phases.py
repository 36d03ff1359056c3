"""Benchmark: where a calibration's measuring time goes, phase by phase and family by family.

Measures every network of the quick CPU suite (or the full one, ``--full``) as ``calibrate --cpu``
does, with the estimate meter, and prints the seconds spent counting steps on the meta device,
warming up, running the profiled steps (one profiler session per network: a warm-up step and the
recorded ones), reading the profiler's events, and measuring the energy windows; then the seconds per
family. With ``--compare-event-tree`` each profiler session's events are also read through torch's
``FunctionEvent`` tree (``prof.events()``, what calibration read before) and the two results are
checked equal, op for op.

The pace timer, the fit and the device probe that ``calibrate`` adds around this are not timed here:
``bench_accuracy.py`` prints the whole command's time.

    python tests/benchmarks/bench_calibrate_phases.py [--full] [--compare-event-tree]
"""
from __future__ import annotations

import argparse
import collections
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from green_estimate.calibration import incontext, profiler_events  # noqa: E402
from green_estimate.calibration.calibrator import _run_settings  # noqa: E402
from green_estimate.calibration.cases import load_suite  # noqa: E402
from green_estimate.calibration.runner import measure_case  # noqa: E402
from green_estimate.meters.estimate import EstimateMeter, cpu_model_name  # noqa: E402

seconds: collections.Counter[str] = collections.Counter()
mismatches: list[str] = []


def timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its seconds to ``seconds[label]``."""
    fn: Callable = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="the full suite (about 8 min) instead of the quick one")
    ap.add_argument("--compare-event-tree", action="store_true",
                    help="also read each profiled step through torch's event tree and check the times are equal")
    args = ap.parse_args()
    print(f"machine: {cpu_model_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    fast = incontext.profiled_times

    def profiled_times(prof: Any, keys: set[str], device: str) -> dict:
        t = time.perf_counter()
        out = fast(prof, keys, device)
        seconds["read profiler events"] += time.perf_counter() - t
        if args.compare_event_tree:
            t = time.perf_counter()
            tree = profiler_events.match_events(prof.events(), keys)
            seconds["(torch's event tree, for comparison)"] += time.perf_counter() - t
            if dict(tree) != dict(out):
                mismatches.append(",".join(sorted(keys))[:60])
        return out

    incontext.profiled_times = profiled_times
    timed(incontext, "count_network", "count the step on meta")
    timed(incontext, "settled_step_s", "warm up")
    timed(incontext, "profiled_steps", "profiled steps")
    timed(incontext, "measure_window", "energy windows")
    suite = load_suite(quick=not args.full)
    settings = _run_settings(suite.settings, quick=not args.full)
    meter = EstimateMeter()
    per_family: collections.Counter[str] = collections.Counter()
    t0 = time.perf_counter()
    for case in suite.cases:
        t = time.perf_counter()
        measure_case(case, meter, "cpu", settings)
        per_family[case.p()["family"]] += time.perf_counter() - t  # with --compare-event-tree, its reading too
    compared = seconds.pop("(torch's event tree, for comparison)", None)
    total = time.perf_counter() - t0 - (compared or 0.0)  # without the comparison's own reading
    print(f"\n{'full' if args.full else 'quick'} suite: {len(suite.cases)} networks measured in {total:.1f} s")
    for label, s in seconds.most_common():
        print(f"  {label:28s} {s:6.1f} s  {100 * s / total:4.1f}%")
    rest = total - sum(seconds.values())
    print(f"  {'the rest (build, ...)':28s} {rest:6.1f} s  {100 * rest / total:4.1f}%")
    if compared is not None:
        print(f"\nprofiler events read through torch's event tree: {compared:.1f} s (raw events: "
              f"{seconds['read profiler events']:.1f} s); {len(mismatches)} of {len(suite.cases)} profiler "
              f"sessions ({incontext.PROFILED_STEPS} recorded steps each) differ")
    print("\nper family" + (" (each with its reading through torch's event tree):" if compared is not None else ":"))
    for fam, s in per_family.most_common():
        print(f"  {fam:12s} {s:6.1f} s")


if __name__ == "__main__":
    main()
