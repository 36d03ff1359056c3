"""Price the measured trials of `validate` runs again with other profiles: is a miss the profile or the trials?

A `validate` run sets each trial's measured time beside the prediction its profile made before the
trial ran. When a run misses its goals, the question is which side moved: the profile (its
calibration ran in a slow or fast stretch of a shared machine) or the trials (they did). This script
prices every given run's trials (its ``trials.csv``; the dataset's input shape from its
``report.json``) with every given profile, as `validate`'s predictor ``predict_model`` prices them
(time, total over the trial's steps, the 90% interval; each architecture counted once), and prints
one line per trial set: the per-trial median absolute error, the share of trials inside the interval
and the sweep total's error under each profile, the run's own profile marked. Nothing is measured; a trial set priced by its own profile
gives the figures its run printed (the same code and profile).

    python tests/benchmarks/bench_validate_reprice.py \\
        --run BU=/tmp/vh/profiles/cpu-amd-epyc-2-threads-quick.json,/tmp/val \\
        --run BV=/tmp/vh2/profiles/cpu-amd-epyc-2-threads-quick.json,/tmp/val2 \\
        --profile shipped=cpu-reference-2core

``--run NAME=PROFILE,FOLDER``: a run's profile (the file `validate` priced with; it says which in
``report.json``) and its output folder. ``--profile NAME=PROFILE``: another profile (a file or a
profile name) to price every run's trials with, beside the runs' own.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from green_estimate.errors import GreenEstimateError  # noqa: E402


@dataclass
class Priced:
    """One trial set priced by one profile."""

    trials: int
    per_trial_median_ape: float
    inside: float
    sweep_error: float


def read_run(folder: Path) -> tuple[list[dict], tuple[int, ...], int]:
    """A validate output folder's trials (``trials.csv``) and its dataset's input shape and classes."""
    report = json.loads((folder / "report.json").read_text())
    with open(folder / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows, tuple(report["dataset"]["input_shape"]), int(report["dataset"]["n_classes"])


def architecture(row: dict) -> dict:
    """A trial's model arguments (``build_model``'s keywords) from its ``trials.csv`` row."""
    return {"conv_blocks": int(row["conv_blocks"] or 0), "linear_layers": int(row["linear_layers"]),
            "relu": row["relu"] == "True"}


def price_trials(rows: list[dict], input_shape: tuple[int, ...], n_classes: int, profile: Any,
                 cache: dict | None = None) -> Priced:
    """``rows`` (trials.csv rows) priced by ``profile`` as `validate`'s ``predict_model`` prices a trial
    before it trains (its steps at its batch size), each architecture counted once per profile's count
    settings (``cache``, shared between calls, keeps those counts)."""
    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import Workload
    from green_estimate.predict import count_settings, predict_report
    from green_estimate.training_plan import TrainingPlan
    from green_estimate.validation.models import build_model

    cache = {} if cache is None else cache
    settings = count_settings(profile)
    errors, inside, predicted, measured = [], 0, 0.0, 0.0
    for row in rows:
        arch, batch, steps = architecture(row), int(row["batch_size"]), int(row["steps"])
        key = (row["family"], tuple(sorted(arch.items())), batch, input_shape, n_classes, tuple(sorted(settings.items())))
        if key not in cache:
            def build(family=row["family"], arch=arch):
                return build_model(family, input_shape, n_classes, **arch)
            cache[key] = count_workload(Workload(name="trial", build=build, input_shape=input_shape), batch_size=batch,
                                        optimizer="adam", **settings)
        total = predict_report(cache[key], plan=TrainingPlan(batch_size=batch, epochs=1, samples=None, steps_given=steps),
                               profile=profile).to_dict()["total"]
        low, high = total["time_s_interval"]
        m = float(row["measured_time_s"])
        errors.append(abs(total["time_s"] / m - 1))
        inside += low <= m <= high
        predicted += total["time_s"]
        measured += m
    return Priced(len(rows), statistics.median(errors), inside / len(rows), predicted / measured - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], metavar="NAME=PROFILE,FOLDER",
                    help="a validate run: the profile it priced with and its output folder (repeat for more)")
    ap.add_argument("--profile", action="append", default=[], metavar="NAME=PROFILE",
                    help="another profile (file or name) to price every run's trials with (repeat for more)")
    args = ap.parse_args()
    if not args.run:
        ap.error("give at least one --run NAME=PROFILE,FOLDER")
    from green_estimate.profile_store import resolve_profile

    profiles, runs = {}, {}
    try:
        for spec in args.run:
            name, _, rest = spec.partition("=")
            path, _, folder = rest.partition(",")
            if not (name and path and folder):
                ap.error(f"--run {spec}: give NAME=PROFILE,FOLDER")
            profiles[name] = resolve_profile(path, "cpu")
            runs[name] = read_run(Path(folder))
        for spec in args.profile:
            name, _, path = spec.partition("=")
            if not (name and path):
                ap.error(f"--profile {spec}: give NAME=PROFILE")
            profiles[name] = resolve_profile(path, "cpu")
    except (GreenEstimateError, OSError, KeyError, ValueError) as e:
        ap.error(str(e))
    cache: dict = {}
    print("each run's trials priced by each profile: per-trial median error / inside the 90% interval / sweep total")
    for run, (rows, shape, n_classes) in runs.items():
        parts = []
        for pname, prof in profiles.items():
            p = price_trials(rows, shape, n_classes, prof, cache)
            own = " (own)" if pname == run else ""
            parts.append(f"{pname}{own} {100 * p.per_trial_median_ape:.1f}% / {100 * p.inside:.1f}% / "
                         f"{100 * p.sweep_error:+.1f}%")
        print(f"{run}'s {len(rows)} trials: " + "; ".join(parts), flush=True)


if __name__ == "__main__":
    main()
