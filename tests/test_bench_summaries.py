"""The accuracy benchmark's summaries of a stored run (tests/benchmarks/bench_accuracy.py --summarize)."""
from __future__ import annotations

import json

from tests.benchmarks import bench_accuracy


def _row(model: str, lo: float, hi: float) -> dict:
    return {"model": model, "interval_s": [lo, hi], "predicted_s": (lo + hi) / 2, "measured_s": 1.0, "error": 0.0,
            "inside": True, "pace": None}


def test_each_pass_is_held_or_not_by_the_interval_on_its_own():
    rows = [_row("a", 0.9, 1.1), _row("b", 1.9, 2.1), _row("c", 2.9, 3.1)]
    passes = {"a": [1.0, 1.2, 0.95], "b": [2.0, 2.0, 2.5], "c": [3.05, 2.5, 3.1]}
    # pass 0: all three inside; pass 1: only b (a 1.2 > 1.1, c 2.5 < 2.9); pass 2: a and c (bounds count)
    assert bench_accuracy.pass_coverage(rows, passes) == [3, 1, 2]


def test_summarize_prints_a_stored_runs_figures_without_measuring(tmp_path, capsys):
    rows = [_row("a", 0.9, 1.1), _row("b", 1.9, 2.1)]
    stored = {"machine": "test CPU", "calibration_s": {"quick": 130.4},
              "passes_s": {"a": [1.0, 1.5], "b": [2.0, 2.05]},
              "profiles": {"quick": {"name": "p-quick", "rows": rows, "summary": {
                  "median_ape": 0.123, "within_15pct": 1, "models": 2, "coverage_90": 1.0}}}}
    path = tmp_path / "out.json"
    path.write_text(json.dumps(stored))
    bench_accuracy.summarize(path)
    out = capsys.readouterr().out
    assert "test CPU; steps in fp32; calibration quick 130 s" in out  # runs stored before --precision were fp32
    assert "median error 12.3%, 1/2 within ±15%, 90% interval covers 2/2" in out
    assert "each pass alone: 2, 1 of 2" in out
    path.write_text(json.dumps({**stored, "precision": "bf16"}))
    bench_accuracy.summarize(path)
    assert "test CPU; steps in bf16; calibration quick 130 s" in capsys.readouterr().out


def test_profile_files_are_read_and_checked_against_the_runs_precision_before_anything_is_measured(tmp_path):
    from green_estimate.profile_store import resolve_profile

    shipped = resolve_profile("cpu-reference-2core", "cpu").data  # the shipped CPU profile's document
    fp32 = tmp_path / "fp32.json"
    fp32.write_text(json.dumps(shipped))
    bf16 = tmp_path / "bf16.json"
    bf16.write_text(json.dumps({**shipped, "precision": "bf16"}))
    errors: list[str] = []
    got = bench_accuracy.given_profiles(["full", str(fp32), "default"], "fp32", errors.append)
    assert list(got) == [str(fp32)] and got[str(fp32)].precision == "fp32" and errors == []
    bench_accuracy.given_profiles([str(bf16)], "fp32", errors.append)
    bench_accuracy.given_profiles([str(tmp_path / "missing.json")], "fp32", errors.append)
    assert errors[0].startswith(f"--profiles {bf16}: ") and "prices bf16 training, not --precision fp32" in errors[0]
    assert errors[1].startswith(f"--profiles {tmp_path / 'missing.json'}: ") and "does not exist" in errors[1]
    assert bench_accuracy.given_profiles([str(bf16)], "bf16", errors.append) and len(errors) == 2
