"""The script that prices validate runs' measured trials again with other profiles
(tests/benchmarks/bench_validate_reprice.py), against validate's own predictor, predict_model."""
from __future__ import annotations

import csv
import json
import statistics

import pytest

from tests.benchmarks import bench_validate_reprice as reprice

SHAPE, CLASSES = (1, 16, 16), 10
TRIALS = [  # family, conv blocks, linear layers, relu, batch, steps, measured seconds
    ("simple_cnn", 2, 3, True, 32, 12, 0.20),
    ("dense_poly", 0, 3, False, 64, 20, 0.02),
    ("dense_linear", 0, 4, True, 64, 20, 0.05),
    ("simple_cnn", 2, 3, True, 32, 30, 0.30),  # the first architecture again, with more steps
]


def _write_run(folder):
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"dataset": {"input_shape": list(SHAPE), "n_classes": CLASSES}}))
    with open(folder / "trials.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["family", "conv_blocks", "linear_layers", "relu", "batch_size", "steps", "measured_time_s"])
        for fam, c, l, relu, b, steps, m in TRIALS:
            w.writerow([fam, c if c else "", l, relu, b, steps, m])


def test_trials_are_priced_as_validate_priced_them_and_scored_against_their_measured_times(tmp_path):
    from green_estimate.predict import predict_model
    from green_estimate.profile_store import resolve_profile
    from green_estimate.validation.models import build_model

    _write_run(tmp_path / "run")
    rows, shape, n_classes = reprice.read_run(tmp_path / "run")
    assert shape == SHAPE and n_classes == CLASSES and len(rows) == len(TRIALS)
    prof = resolve_profile("cpu-reference-2core", "cpu")
    errors, inside, predicted = [], 0, 0.0
    for fam, c, l, relu, b, steps, m in TRIALS:  # validate's predictor, one call per trial
        total = predict_model(lambda: build_model(fam, SHAPE, CLASSES, conv_blocks=c, linear_layers=l, relu=relu),
                              input_shape=SHAPE, batch_size=b, steps=steps, profile=prof)["total"]
        errors.append(abs(total["time_s"] / m - 1))
        inside += total["time_s_interval"][0] <= m <= total["time_s_interval"][1]
        predicted += total["time_s"]
    cache: dict = {}
    got = reprice.price_trials(rows, shape, n_classes, prof, cache)
    assert got.trials == 4 and len(cache) == 3  # the repeated architecture was counted once
    assert got.per_trial_median_ape == pytest.approx(statistics.median(errors), rel=1e-9)
    assert got.inside == inside / 4
    assert got.sweep_error == pytest.approx(predicted / sum(t[-1] for t in TRIALS) - 1, rel=1e-9)


def test_the_script_prints_each_runs_trials_under_each_profile_and_refuses_a_bad_run(tmp_path, capsys, monkeypatch):
    _write_run(tmp_path / "run")
    cpu = "cpu-reference-2core"  # a profile name, as --profile takes one too
    monkeypatch.setattr("sys.argv", ["x", "--run", f"A={cpu},{tmp_path / 'run'}", "--profile", f"B={cpu}"])
    reprice.main()
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("A's 4 trials: "))
    a, b = line.split(": ", 1)[1].split("; ")
    assert a.startswith("A (own) ") and b.startswith("B ") and a[len("A (own) "):] == b[len("B "):]  # the same profile
    monkeypatch.setattr("sys.argv", ["x", "--run", f"A={cpu}"])
    with pytest.raises(SystemExit):
        reprice.main()
    assert "give NAME=PROFILE,FOLDER" in capsys.readouterr().err
