"""`green-estimate validate`: options handed to the library, usage errors, a tiny real run with fakes."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from green_estimate.cli.app import app
from green_estimate.profile_store import resolve_profile
from green_estimate.validation.report import build_report
from tests.validation.conftest import TickMeter
from tests.validation.rows_helper import row

runner = CliRunner()
SHIPPED = "cpu-reference-2core"


@pytest.fixture
def fakes(monkeypatch):
    """Wrap the library's ``validate``: record what the CLI hands it, and wire in a ticking meter and a
    profile choice (the shipped CPU profile) where production opens the best meter and may calibrate."""
    from green_estimate.validation import session
    from green_estimate.validation.profile_choice import ProfileChoice

    seen: dict = {}
    real = session.validate

    def open_meter(*, gpu_index, watts):
        seen["meter"] = (gpu_index, watts)
        seen["meter_obj"] = TickMeter()
        return seen["meter_obj"]

    def choose_profile(profile, device, *, calibrate, on_calibrating, on_progress):
        seen["choose"] = (profile, device, calibrate)
        return ProfileChoice(resolve_profile(SHIPPED))

    def validate(preset, out, **options):
        seen["options"] = {"preset": preset, "out": out, **options}
        return real(preset, out, open_meter=open_meter, choose_profile=choose_profile, run=seen.get("run"),
                    cuda_available=lambda: True, **options)

    seen["open_meter"] = open_meter
    monkeypatch.setattr(session, "validate", validate)
    return seen


@pytest.fixture
def captured(fakes):
    """Stand in for the study runner too: capture its arguments, return a small real report."""
    def fake_run(config, *, meter, predict_fn, progress=None, meter_factory=None, pace_fn=None):
        fakes["config"], fakes["run_meter"], fakes["progress"] = config, meter, progress
        fakes["meter_factory"], fakes["predict_fn"], fakes["pace_fn"] = meter_factory, predict_fn, pace_fn
        return build_report(fakes.get("rows", [row()]), config=config.to_dict(),
                            dataset={"name": "digits", "input_shape": [1, 16, 16]},
                            meter={"name": meter.name, "provenance": meter.provenance, "device": meter.device})

    fakes["run"] = fake_run
    return fakes


def test_help_has_an_example_and_the_options():
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    for option in ("--quick", "--trials", "--epochs", "--strategies", "--storage", "--out", "--seed", "--data",
                   "--data-dir", "--gpu", "--cpu", "--watts", "--profile", "--five-params", "--json"):
        assert option in result.stdout, option


def test_options_reach_the_library(tmp_path, captured):
    result = runner.invoke(app, [
        "validate", "--quick", "--trials", "5", "--epochs", "2", "--batch-size", "64", "--strategies", "random,tpe",
        "--families", "dense_poly", "--five-params", "--storage", "sqlite:///x.db", "--out", str(tmp_path),
        "--seed", "7", "--cpu", "--watts", "35", "--profile", "laptop", "--confidence", "0.8",
        "--train-samples", "100", "--json",
    ])
    assert result.exit_code == 0, result.output
    assert captured["choose"] == ("laptop", "cpu", True)
    c = captured["config"]
    assert (c.preset, c.trials, c.epochs, c.batch_size) == ("quick", 5, 2, 64)
    assert c.strategies == ("random", "tpe") and c.families == ("dense_poly",) and c.five_params
    assert (c.storage, c.out_dir, c.seed, c.device, c.train_samples, c.data) == (
        "sqlite:///x.db", tmp_path, 7, "cpu", 100, "digits")
    assert captured["meter"] == (None, 35.0)
    assert captured["options"]["profile"] == "laptop" and captured["options"]["confidence"] == 0.8
    predict_fn = captured["predict_fn"]  # the real predictor, with the chosen profile, for the trials' device
    assert predict_fn.keywords["confidence"] == 0.8 and predict_fn.keywords["device"] == "cpu"
    assert predict_fn.keywords["profile"].name == SHIPPED and c.predictor == f"{SHIPPED}@0.8"
    assert captured["run_meter"] is captured["meter_obj"] and captured["meter_obj"].reads == 0
    assert captured["pace_fn"].baseline_s > 0   # one process on a CPU: the machine's pace is timed per trial
    assert json.loads(result.stdout)["schema"] == "green-estimate/validation@1"


def test_trials_off_pace_get_columns_of_their_own(tmp_path, captured):
    captured["rows"] = [row(trial=0, pace=1.0), row(trial=1, pace=1.02, pred_s=0.5), row(trial=2, pace=1.6, meas_s=2.0)]
    result = runner.invoke(app, ["validate", "--quick", "--cpu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())   # the console wraps long lines
    assert "time †" in text and "only the 2 trials at the pace the profile was made at" in text
    assert "median ×1.02, ×1.00–×1.60; 1 of 3 trials beyond ×1.25" in text
    # energy is exact in all three; time errors 0, 0.5, 0.5 (median 50.0%); the two at pace: 0 and 0.5 (25.0%)
    line = next(x for x in result.stdout.splitlines() if "median absolute" in x)
    assert re.findall(r"[\d.]+%", line) == ["0.0%", "50.0%", "0.0%", "25.0%"]


def test_full_preset_and_gpu_by_default(tmp_path, captured):
    result = runner.invoke(app, ["validate", "--gpu", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    c = captured["config"]
    assert (c.preset, c.trials, c.epochs, c.batch_size, c.device) == ("full", 64, 25, 512, "cuda:1")
    assert captured["meter"] == (1, None)
    assert captured["progress"] is not None  # the progress bar is fed by the library


@pytest.mark.parametrize("args, text", [
    (["--gpu", "0", "--cpu"], "exclude each other"),
    (["--strategies", "grid,hill"], "unknown strategy hill"),
    (["--data", "mnist"], "unknown data set"),
])
def test_usage_errors_exit_2(tmp_path, captured, args, text):
    result = runner.invoke(app, ["validate", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert text in result.stderr and "Traceback" not in result.output


def test_missing_data_files_exit_1_naming_them(tmp_path, fakes):
    result = runner.invoke(app, ["validate", "--quick", "--cpu", "--data", "fashion-mnist", "--data-dir", str(tmp_path),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "train-images-idx3-ubyte" in result.stderr and "never downloaded" in result.stderr
    assert fakes["meter_obj"].reads == 0


def test_tiny_real_run_through_the_cli(tmp_path, fakes):
    out = tmp_path / "run"
    args = ["validate", "--quick", "--trials", "2", "--epochs", "1", "--batch-size", "32", "--strategies", "random",
            "--train-samples", "64", "--test-samples", "32", "--cpu", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Prediction quality" in result.stdout and "claims" in result.stdout
    assert "Machine pace before each trial" in result.stdout   # the real reference step, timed before each trial
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["measured_energy_j"]) == 2.0 for r in rows)
    assert all(float(r["machine_pace"]) > 0 for r in rows)
    assert Path(out / "report.md").exists() and len(list((out / "plots").glob("*.png"))) >= 2
    # Rerun: nothing missing, same two trials reported as JSON.
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert len(json.loads(again.stdout)["trials"]) == 2


def test_no_calibrate_reaches_the_profile_choice(tmp_path, captured):
    result = runner.invoke(app, ["validate", "--quick", "--cpu", "--no-calibrate", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert captured["choose"] == (None, "cpu", False)


def test_workers_reach_the_library_with_a_meter_factory(tmp_path, captured):
    result = runner.invoke(app, ["validate", "--quick", "--workers", "2", "--storage", str(tmp_path / "s.journal"),
                                 "--out", str(tmp_path), "--cpu", "--watts", "12", "--json"])
    assert result.exit_code == 0, result.output
    assert captured["config"].workers == 2
    assert captured["config"].storage_url() == f"journal:{tmp_path / 's.journal'}"
    factory = captured["meter_factory"]
    assert factory.func is captured["open_meter"] and factory.keywords == {"gpu_index": None, "watts": 12.0}
    one = runner.invoke(app, ["validate", "--quick", "--out", str(tmp_path), "--cpu", "--json"])
    assert one.exit_code == 0 and captured["meter_factory"] is None  # one worker measures in this process


@pytest.mark.parametrize("args,message", [
    (["--workers", "0"], "--workers 0"),
    (["--workers", "2", "--storage", "sqlite:///:memory:"], "in-memory"),
])
def test_bad_workers_are_one_line_errors(tmp_path, captured, args, message):
    result = runner.invoke(app, ["validate", "--quick", "--out", str(tmp_path), "--cpu", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
