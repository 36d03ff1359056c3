"""Benchmark: how much does a quick profile's accuracy depend on *which* networks the quick suite draws?

`calibrate --cpu --quick` fits 71 seeded networks (65 before run BK, 60 before run AR); every
machine runs the same ones, but which is one draw of many. This script asks what other draws would
have given, without calibrating again: from one full calibration's samples (334 networks measured in
one run; 314 before run BK, 290 before run AR), it holds out a few networks per family, then fits quick-sized profiles on random draws of the rest — each draw with the quick
suite's count per family (scaled by ``--sizes``) — and prices

* the held-out networks (not in any draw: the same generator, unseen networks), and
* with ``--bench``, the unseen models of ``bench_accuracy.py``, against the times that run measured.

It prints, per size, every draw's median error and, over the draws, the median, the range and how
many draws meet the quick goal (median error ≤ 20 % on the benchmark's models). Printed first, as
references: a profile fitted on the whole pool, and the quick suite's own draw where the folder has
its samples (``quick.samples.jsonl``, calibrated in the same run).

    python tests/benchmarks/bench_accuracy.py --profiles full,quick --keep DIR --json DIR/out.json
    python tests/benchmarks/bench_quick_draws.py DIR --bench DIR/out.json            # 16 draws of quick's size
    python tests/benchmarks/bench_quick_draws.py DIR --bench DIR/out.json --sizes 71,90 --draws 8

No measurement is made: every figure comes from the kept samples and the measured times in the
JSON, so the figures are those of the machine and the run that made them (printed).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from green_estimate.calibration.calibrator import fit_profile  # noqa: E402
from green_estimate.calibration.cases import load_suite  # noqa: E402
from green_estimate.calibration.networks import REFERENCE_FAMILY  # noqa: E402
from green_estimate.calibration.runner import read_samples  # noqa: E402
from green_estimate.calibration.step_fit import class_times, step_features  # noqa: E402
from green_estimate.profile import Profile  # noqa: E402

QUICK_GOAL = 0.20


def quick_counts() -> dict[str, int]:
    """Networks per family in the shipped quick suite (its reference architectures, never fitted, left out)."""
    return dict(Counter(f for c in load_suite(quick=True).cases if (f := dict(c.params)["family"]) != REFERENCE_FAMILY))


def held_out_errors(doc: dict, held: list[dict]) -> list[float]:
    """Relative errors of the step model on samples it did not see (from their stored op records)."""
    params = doc["step_model"]["time_s"]["params"]
    out = []
    for s in held:
        x = step_features(s, class_times(s, doc["classes"], doc["default_class"]))
        out.append(sum(a * b for a, b in zip(params, x)) / s["time_s"] - 1)
    return out


class BenchModels:
    """bench_accuracy.py's models, counted once, and their measured times from its JSON output."""

    def __init__(self, bench_json: Path, base_profile: dict):
        import bench_accuracy as B  # noqa: E402  (torch; only with --bench)

        from green_estimate.predict import predict_report
        from green_estimate.training_plan import TrainingPlan

        data = json.loads(bench_json.read_text())
        self.machine = data.get("machine", "?")
        self.measured = {n: statistics.median(v) for n, v in data["passes_s"].items() if v}
        self.names = [n for n in B.MODELS if n in self.measured]
        self.reports = {n: B.count_workload(B.workload(n), batch_size=B.BATCH, optimizer="adam") for n in self.names}
        self.plan = TrainingPlan(batch_size=B.BATCH, steps_given=1)
        self.base = base_profile
        self._predict = predict_report
        self._quality = B._quality  # the summary bench_accuracy prints: median error, within ±15 %, coverage

    def score(self, doc: dict) -> dict:
        prof = Profile.from_dict({**self.base, **doc}, origin="bench_quick_draws")
        rows = []
        for n in self.names:
            pr = self._predict(self.reports[n], plan=self.plan, profile=prof)
            lo, hi = pr.time_interval()
            m = self.measured[n]
            rows.append({"error": pr.time_s / m - 1, "inside": lo <= m <= hi})
        q = self._quality(rows)
        return {**q, "inside": round(q["coverage_90"] * q["models"]),
                "errors": {n: r["error"] for n, r in zip(self.names, rows)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="bench_accuracy.py's --keep folder (full.json, full.samples.jsonl)")
    ap.add_argument("--bench", type=Path, default=None, help="bench_accuracy.py's --json output of the same run")
    ap.add_argument("--sizes", default=None, help="networks per draw, comma-separated (quick's family shares; "
                                                  "default: the quick suite's own count)")
    ap.add_argument("--draws", type=int, default=16, help="random draws per size (default 16)")
    ap.add_argument("--hold", type=int, default=8, help="networks held out per family (default 8)")
    args = ap.parse_args()

    header, samples = read_samples(args.folder / "full.samples.jsonl")
    # the draws are of fitted networks: the reference architectures (never fitted) are left out
    samples = [s for s in samples if s.get("kind") == "network" and s.get("time_s", 0) > 0
               and s["params"]["family"] != REFERENCE_FAMILY]
    print(f"samples: {args.folder / 'full.samples.jsonl'} ({len(samples)} networks; measured on "
          f"{header.get('device_name', '?')}, torch {header.get('torch_version', '?')}, {header.get('started_utc', '?')})")
    by_family: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_family[s["params"]["family"]].append(s)
    rng = random.Random(7)
    held: list[dict] = []
    pool: dict[str, list[dict]] = {}
    for fam in sorted(by_family):
        nets = by_family[fam][:]
        rng.shuffle(nets)
        held += nets[:args.hold]
        pool[fam] = nets[args.hold:]
    counts = quick_counts()
    base = json.loads((args.folder / "full.json").read_text())
    bench = BenchModels(args.bench, base) if args.bench else None
    if bench:
        print(f"benchmark: {len(bench.names)} models measured on {bench.machine}")
    print(f"held out: {len(held)} networks ({args.hold} per family); quick suite per family: "
          + ", ".join(f"{f} {n}" for f, n in sorted(counts.items())))

    def line(tag: str, n: int, doc: dict) -> tuple[float, dict | None]:
        h = statistics.median(abs(e) for e in held_out_errors(doc, held))
        b = bench.score(doc) if bench else None
        print(f"  {tag:12s} {n:4d} networks: held-out median error {100 * h:5.1f}%"
              + (f" | benchmark {100 * b['median_ape']:5.1f}%, {b['within_15pct']}/{b['models']} within ±15%, "
                 f"covered {b['inside']}/{b['models']}" if b else ""), flush=True)
        return h, b

    print("\nreference: every network of the pool")
    line("full pool", sum(len(v) for v in pool.values()), fit_profile([s for v in pool.values() for s in v]).to_dict())
    own = args.folder / "quick.samples.jsonl"
    if own.exists():  # the quick suite's own draw, calibrated in the same run
        quick = [s for s in read_samples(own)[1] if s.get("kind") == "network" and s.get("time_s", 0) > 0]
        line("quick suite", len(quick), fit_profile(quick).to_dict())
    for size in (int(x) for x in (args.sizes or str(sum(counts.values()))).split(",")):
        scale = size / sum(counts.values())
        print(f"\n{args.draws} draws of about {size} networks (quick's counts × {scale:.2f})")
        held_meds, bench_rows = [], []
        for d in range(args.draws):
            r = random.Random(f"{size}:{d}")
            draw = [s for fam, k in sorted(counts.items()) if fam in pool
                    for s in r.sample(pool[fam], min(len(pool[fam]), max(1, round(k * scale))))]
            h, b = line(f"draw {d}", len(draw), fit_profile(draw).to_dict())
            held_meds.append(h)
            if b:
                bench_rows.append(b)
        print(f"  → held-out median error over the draws: median {100 * statistics.median(held_meds):.1f}%, "
              f"range {100 * min(held_meds):.1f}–{100 * max(held_meds):.1f}%")
        if bench_rows:
            meds = [b["median_ape"] for b in bench_rows]
            print(f"  → benchmark median error over the draws: median {100 * statistics.median(meds):.1f}%, "
                  f"range {100 * min(meds):.1f}–{100 * max(meds):.1f}%; {sum(m <= QUICK_GOAL for m in meds)} of "
                  f"{len(meds)} draws ≤ {100 * QUICK_GOAL:.0f}%")
            print("    per model, signed error over the draws (median, range):")
            for n in bench.names:
                es = [b["errors"][n] for b in bench_rows]
                print(f"      {n:26s} {100 * statistics.median(es):+6.1f}%  ({100 * min(es):+.0f}% … {100 * max(es):+.0f}%)")


if __name__ == "__main__":
    main()
