"""Offline: a stored run of the shipped profile carried to another CPU, priced again under each choice
of the rate its byte coefficients follow. Nothing is measured; the run's own times are the truth.

The transfer (green_estimate/transfer.py) multiplies every bytes coefficient by the ratio of the two
machines' 32 MiB copy bandwidths. On the project's VM that copy sits at its 32 MiB cache's edge, and on
a CPU with a larger cache it is an in-cache rate (docs/performance.md, runs CK and CL), so the probe
also records a 2 MiB copy (in cache) and one of four times the last-level cache (from memory). This
prices the run's models with the profile carried four ways:

* ``copy32`` — as ``predict`` does today (reproduces the run's own figures);
* ``cache`` — every bytes coefficient by the in-cache ratio;
* ``memory`` — every bytes coefficient by the memory ratio;
* ``regimes`` — ``bytes_dram`` and ``bytes_fresh`` (ops streaming from memory) by the memory ratio, the
  other bytes coefficients by the in-cache ratio.

A choice needs its readings on both machines: the run's probe, and the profile's own probe or, where
that was made before the reading existed, ``--made-probe`` files measured on the profile's kind of
machine (their median; calibration/probes/ holds four of the shipped profile's).

    python tests/benchmarks/bench_transfer_bytes.py --bench calibration/gpu-runs/run-h200-e/bench.json \\
        --probe calibration/gpu-runs/run-h200-e/probe.json --made-probe calibration/probes/cpu-reference-2core/*.json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

MEMORY_FEATURES = ("bytes_dram", "bytes_fresh")
READINGS = {"copy32": "bandwidth_bytes_per_s", "cache": "cache_bandwidth_bytes_per_s",
            "memory": "dram_bandwidth_bytes_per_s"}


def bytes_ratio(policy: str, feature: str, ratios: dict[str, float]) -> float:
    """The time multiplier of one bytes coefficient under ``policy``, from the per-reading ratios."""
    if policy == "regimes":
        return ratios["memory"] if feature in MEMORY_FEATURES else ratios["cache"]
    return ratios[policy]


def reading_ratios(made: dict, here: dict) -> dict[str, float]:
    """Made/here for each copy both probes hold (a time multiplier: a slower copy here prices slower)."""
    return {name: made[key] / here[key] for name, key in READINGS.items() if made.get(key) and here.get(key)}


def policies(ratios: dict[str, float]) -> list[str]:
    out = [p for p in ("copy32", "cache", "memory") if p in ratios]
    return out + (["regimes"] if {"cache", "memory"} <= set(ratios) else [])


def carried(profile, here: dict, policy: str, ratios: dict[str, float]):
    """``profile`` carried to ``here`` as predict carries it, its bytes coefficients by ``policy``."""
    from green_estimate.device_probe import feature_ratio, ratios as rate_ratios, step_feature_ratio
    from green_estimate.transfer import reference_log_errors, transfer_log_error

    r = rate_ratios(profile.probe, here)

    def class_factor(cls: str, feature: str) -> float:
        if "bytes" in feature and "flops" not in feature:
            return bytes_ratio(policy, feature, ratios)
        return feature_ratio(feature, r, cls)

    scaled = profile.rescaled(class_factor=class_factor, step_factor=lambda f: step_feature_ratio(f, r))
    logs = reference_log_errors(profile, scaled, here)
    return scaled.replaced(transfer={"from": profile.made_on, "to": "the run's CPU", "ratios": r,
                                     "reference_log_errors": logs, "log_error": transfer_log_error(logs)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, help="a bench_accuracy.py --json file with a 'default' profile")
    ap.add_argument("--probe", required=True, help="the probe of the run's CPU (probe.json)")
    ap.add_argument("--made-probe", nargs="*", default=[], help="probes of the profile's kind of machine")
    ap.add_argument("--profile", default="cpu-reference-2core")
    args = ap.parse_args()

    import bench_accuracy as B

    from green_estimate.predict import predict_report
    from green_estimate.profile_store import resolve_profile
    from green_estimate.training_plan import TrainingPlan

    bench, here = json.loads(Path(args.bench).read_text()), json.loads(Path(args.probe).read_text())
    profile = resolve_profile(args.profile, "cpu")
    made = dict(profile.probe)
    extra = [json.loads(Path(p).read_text()) for p in args.made_probe]
    for key in READINGS.values():
        values = [p[key] for p in extra if p.get(key)]
        if not made.get(key) and values:
            made[key] = statistics.median(values)
    ratios = reading_ratios(made, here)
    print(f"profile {profile.name} (made on {profile.made_on}); the run's CPU: {here['fingerprint'].get('cpu_model')} "
          f"({here['fingerprint'].get('threads')} threads)")
    for name, key in READINGS.items():
        print(f"  {name:7s} copy: made {made.get(key, 0) / 1e9:7.1f} GB/s, here {here.get(key, 0) / 1e9:7.1f} GB/s"
              + (f", bytes time ×{ratios[name]:.2f}" if name in ratios else " (not in both probes)"))
    rows = bench["profiles"]["default"]["rows"]
    reports = {r["model"]: B.count_workload(B.workload(r["model"]), batch_size=B.BATCH, optimizer="adam",
                                            precision=bench.get("precision", "fp32")) for r in rows}
    for policy in policies(ratios):
        prof = carried(profile, here, policy, ratios)
        errs, inside = [], 0
        for r in rows:
            pred = predict_report(reports[r["model"]], plan=TrainingPlan(batch_size=B.BATCH, steps_given=1),
                                  profile=prof, probe=False)
            lo, hi = pred.time_interval()
            errs.append(pred.time_s / r["measured_s"] - 1)
            inside += lo <= r["measured_s"] <= hi
        print(f"{policy:8s} median error {statistics.median(abs(e) for e in errs):6.1%} (signed {statistics.median(errs):+.1%}), "
              f"within ±15% {sum(abs(e) <= 0.15 for e in errs)}/{len(errs)}, inside {inside}/{len(errs)}; "
              f"interval widened ×{math.exp(prof.transfer_log_error):.2f}")


if __name__ == "__main__":
    main()
