"""Price the measured trials of a ``validate`` run with two profiles and compare their errors.

    python calibration/runs/roundtrip.py VALIDATE_OUT/trials.csv PROFILE_A PROFILE_B [--all]

Each trial becomes a run (green_estimate.runs.importers.from_validate_trials), is counted once per
configuration, and predicted by each profile for its exact plan; the table gives each profile's median
absolute error, mean absolute log error and sweep-total error against the measured energy and time.
This is how docs/performance.md's round trip (validate → calibrate --from-runs → validate) was scored.
Trials measured under contention are left out as ``calibrate --from-runs`` leaves them out; ``--all``
keeps them (the medians then still say which profile is closer on the typical trial).
"""
import json
import math
import statistics
import sys


def main(trials: str, *profiles: str, keep_contended: bool = False) -> None:
    from green_estimate.counting.counter import count_model
    from green_estimate.predict import TrainingPlan, predict_report, resolve_profile
    from green_estimate.runs.importers import from_validate_trials

    notes: list[str] = []

    runs = from_validate_trials(trials, notes=notes, keep_contended=keep_contended)
    profs = [resolve_profile(p) for p in profiles]
    reports = {}
    rows = {p: [] for p in profiles}
    for r in runs:
        if r.config_key not in reports:
            reports[r.config_key] = count_model(r.model, batch_size=r.batch_size, optimizer=r.optimizer,
                                                input_shape=r.input_shape, model_kwargs=r.model_args)
        plan = TrainingPlan(batch_size=r.batch_size, steps_given=r.steps)
        for name, prof in zip(profiles, profs):
            d = predict_report(reports[r.config_key], plan=plan, profile=prof).to_dict()["total"]
            lo, hi = d["energy_j_interval"]
            rows[name].append((d["energy_j"], r.energy_j, d["time_s"], r.time_s, lo <= r.energy_j <= hi))
    out = {"trials": trials, "contended_kept": keep_contended, "runs": len(runs), "configurations": len(reports), "notes": notes, "profiles": {}}
    for name in profiles:
        pe, me, pt, mt, inside = zip(*rows[name])
        out["profiles"][name] = {
            "energy_median_ape": statistics.median(abs(p / m - 1) for p, m in zip(pe, me)),
            "energy_mean_abs_log_err": statistics.fmean(abs(math.log(p / m)) for p, m in zip(pe, me)),
            "energy_sweep_error": sum(pe) / sum(me) - 1,
            "time_median_ape": statistics.median(abs(p / m - 1) for p, m in zip(pt, mt)),
            "energy_interval_coverage": sum(inside) / len(inside),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--all"]
    main(args[0], *args[1:], keep_contended="--all" in sys.argv)
