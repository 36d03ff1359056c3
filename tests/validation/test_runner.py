"""A whole (tiny) validation run with fakes: files, numbers, prediction-before-training, resuming."""
from __future__ import annotations

import csv
import json
import math

import optuna
import pytest

from green_estimate.validation import preset_config, run_validation
from green_estimate.validation.search import completed_trials

from .conftest import J_PER_PARAM_STEP, S_PER_PARAM_STEP, TICK_J, TICK_S, FakePredictor, TickMeter

TRIALS, EPOCHS, BATCH = 3, 1, 32


def _config(tmp_path, **kw):
    return preset_config("quick", tmp_path / "out", trials=TRIALS, epochs=EPOCHS, batch_size=BATCH, **kw)


def _steps(dataset):
    return EPOCHS * math.ceil(dataset.n_train / BATCH)


def test_run_writes_csv_json_markdown_and_plots(tmp_path, small_digits, events):
    meter, predictor = TickMeter(events), FakePredictor(events)
    report = run_validation(_config(tmp_path), meter=meter, predict_fn=predictor, dataset=small_digits)
    out = tmp_path / "out"
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * TRIALS
    assert [r["strategy"] for r in rows] == ["grid"] * 3 + ["random"] * 3 + ["bayes"] * 3
    steps = _steps(small_digits)  # 1 x ceil(120 / 32) = 4
    for r in rows:
        assert int(r["steps"]) == steps == 4
        # Measured: one tick per trial. Predicted: the fake's per-parameter rates x steps.
        assert float(r["measured_energy_j"]) == TICK_J and float(r["measured_time_s"]) == TICK_S
        assert float(r["predicted_energy_j"]) == pytest.approx(J_PER_PARAM_STEP * int(r["n_params"]) * steps)
        assert float(r["predicted_time_s"]) == pytest.approx(S_PER_PARAM_STEP * int(r["n_params"]) * steps)
        assert float(r["predicted_energy_j_low"]) < float(r["predicted_energy_j"]) < float(r["predicted_energy_j_high"])
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and r["meter"] == "tick" and r["provenance"] == "estimated"
    # The predictor saw the trial's own plan: the dataset's input shape, the batch, all steps.
    assert {(c["input_shape"], c["batch_size"], c["steps"], c["optimizer"]) for c in predictor.calls} == {
        ((1, 16, 16), BATCH, steps, "adam")}
    # Each trial: predict, then the meter's two reads around training.
    assert events == ["predict", "read", "read"] * (3 * TRIALS)
    doc = json.loads((out / "report.json").read_text())
    assert doc["schema"] == "green-estimate/validation@1" and len(doc["trials"]) == 9
    assert [c["number"] for c in doc["claims"]] == [1, 2, 3, 4]
    assert doc["claims"][0]["verdict"] == "inconclusive"  # 3 trials per strategy is too few
    assert "ESTIMATED" in (out / "report.md").read_text()
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) >= 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert report.quality.trials == 9
    assert report.quality.sweep_measured_energy_j == pytest.approx(9 * TICK_J)


class _StopAfter:
    def __init__(self, k):
        self.k = k

    def __call__(self, done, total, message):
        if done == self.k:
            raise KeyboardInterrupt


def _study_trials(config, strategy):
    study = optuna.load_study(study_name=config.study_name(strategy), storage=config.storage_url())
    return study, completed_trials(study)


def test_interrupted_run_resumes_keeping_finished_trials(tmp_path, small_digits):
    config = _config(tmp_path, strategies=("grid", "random"))
    first = FakePredictor()
    with pytest.raises(KeyboardInterrupt):
        run_validation(config, meter=TickMeter(), predict_fn=first, dataset=small_digits, progress=_StopAfter(2))
    assert len(first.calls) == 2
    _, kept = _study_trials(config, "grid")
    kept_params = [(t.number, t.params) for t in kept]
    assert len(kept) == 2

    second = FakePredictor()
    report = run_validation(config, meter=TickMeter(), predict_fn=second, dataset=small_digits)
    # Only the missing trials ran: 1 grid + 3 random.
    assert len(second.calls) == 2 * TRIALS - 2
    _, grid = _study_trials(config, "grid")
    assert [(t.number, t.params) for t in grid[:2]] == kept_params and len(grid) == TRIALS
    assert len(report.rows) == 2 * TRIALS
    # A third run has nothing left to do and reports the same trials.
    third = FakePredictor()
    again = run_validation(config, meter=TickMeter(), predict_fn=third, dataset=small_digits)
    assert third.calls == [] and len(again.rows) == 2 * TRIALS


def test_a_trial_interrupted_midway_is_dropped_and_rerun(tmp_path, small_digits):
    config = _config(tmp_path, strategies=("random",))
    with pytest.raises(KeyboardInterrupt):
        run_validation(config, meter=TickMeter(), predict_fn=FakePredictor(interrupt_on_call=2), dataset=small_digits)
    study, done = _study_trials(config, "random")
    assert len(done) == 1 and len(study.trials) == 2  # trial 1 failed inside its objective
    resumed = FakePredictor()
    report = run_validation(config, meter=TickMeter(), predict_fn=resumed, dataset=small_digits)
    assert len(resumed.calls) == TRIALS - 1
    # the resumed RandomSampler starts its seed's draws again: trial 2 repeats trial 0's point and is skipped
    # before it is priced or trained (search.claim), so the study holds 3 distinct trials
    assert [r.trial for r in report.rows] == [0, 3, 4]
    study, done = _study_trials(config, "random")
    assert study.trials[2].user_attrs["skipped"] == "duplicate of trial 0"
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done) == TRIALS
    assert any("did not finish" in n and "random: 1" in n for n in report.notes)


def test_changed_settings_start_new_studies_beside_the_old(tmp_path, small_digits):
    config = _config(tmp_path, strategies=("random",))
    run_validation(config, meter=TickMeter(), predict_fn=FakePredictor(), dataset=small_digits)
    longer = preset_config("quick", tmp_path / "out", trials=TRIALS, epochs=2, batch_size=BATCH, strategies=("random",))
    predictor = FakePredictor()
    report = run_validation(longer, meter=TickMeter(), predict_fn=predictor, dataset=small_digits)
    assert len(predictor.calls) == TRIALS and all(r.epochs == 2 for r in report.rows)
    names = optuna.get_all_study_names(storage=config.storage_url())
    assert sorted(names) == sorted([config.study_name("random"), longer.study_name("random")])


def test_machine_pace_is_timed_after_the_prediction_and_before_the_window(tmp_path, small_digits, events):
    paces = iter([1.0, 1.1, 1.6, 0.9, 1.0, 1.3, 1.0, 1.0, 0.7])

    def pace() -> float:
        events.append("pace")
        return next(paces)

    report = run_validation(_config(tmp_path), meter=TickMeter(events), predict_fn=FakePredictor(events),
                            dataset=small_digits, pace_fn=pace)
    assert events == ["predict", "pace", "read", "read"] * (3 * TRIALS)
    with open(tmp_path / "out" / "trials.csv") as f:
        got = [float(r["machine_pace"]) for r in csv.DictReader(f)]
    assert got == [1.0, 1.1, 1.6, 0.9, 1.0, 1.3, 1.0, 1.0, 0.7]   # strategies ran grid, random, bayes in turn
    assert (report.pace.trials, report.pace.off_pace) == (9, 3)   # 1.6, 1.3 and 0.7 are beyond ×1.25
