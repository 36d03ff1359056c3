"""Strategy summaries and prediction quality against arithmetic done by hand."""
from __future__ import annotations

import pytest

from green_estimate.validation.summary import prediction_quality, summarize_strategies

from .rows_helper import row


def test_strategy_summary_energy_to_best_and_to_within_one_point():
    rows = [
        row("grid", 1, acc=0.90, meas_j=20), row("grid", 0, acc=0.80, meas_j=10), row("grid", 2, acc=0.85, meas_j=5),
        row("random", 0, acc=0.70, meas_j=4), row("random", 1, acc=0.95, meas_j=6), row("random", 2, acc=0.96, meas_j=8),
    ]
    grid, rand = summarize_strategies(rows, ["grid", "random"])
    # grid in trial order: 0.80 (10 J), 0.90 (20 J): its best after 2 trials, 10 + 20 = 30 J.
    assert (grid.trials, grid.best_accuracy, grid.trials_to_best, grid.energy_to_best_j) == (3, 0.90, 2, 30.0)
    # best overall 0.96; within 1 point means >= 0.95, which grid never reached.
    assert grid.trials_to_within_1pt is None and grid.energy_to_within_1pt_j is None
    assert grid.measured_energy_j == 35.0 and grid.predicted_energy_j == 30.0
    # random: 0.95 at its 2nd trial (4 + 6 = 10 J), its best 0.96 at the 3rd (18 J).
    assert (rand.trials_to_within_1pt, rand.energy_to_within_1pt_j) == (2, 10.0)
    assert (rand.trials_to_best, rand.energy_to_best_j) == (3, 18.0)


def test_prediction_quality_by_hand():
    rows = [
        row(trial=0, pred_j=12, meas_j=10, pred_s=1.05, meas_s=1.0),  # APE 0.20 / 0.05; both inside ±20 %
        row(trial=1, pred_j=9.5, meas_j=10, pred_s=0.5, meas_s=1.0),  # APE 0.05 / 0.50; time outside [0.4, 0.6]
        row(trial=2, pred_j=30, meas_j=20, pred_s=2.0, meas_s=2.0),  # APE 0.50 / 0.00; energy outside [24, 36]
    ]
    q = prediction_quality(rows)
    assert q.trials == 3
    assert q.median_ape_energy == pytest.approx(0.20)
    assert q.median_ape_time == pytest.approx(0.05)
    assert q.within_10pct_energy == pytest.approx(1 / 3)
    assert q.within_10pct_time == pytest.approx(2 / 3)
    assert q.interval_coverage_energy == pytest.approx(2 / 3)
    assert q.interval_coverage_time == pytest.approx(2 / 3)
    assert (q.sweep_predicted_energy_j, q.sweep_measured_energy_j) == (51.5, 40.0)
    assert q.sweep_error_energy == pytest.approx((51.5 - 40) / 40)
    assert q.sweep_error_time == pytest.approx((3.55 - 4.0) / 4.0)


def test_no_rows_no_numbers():
    assert summarize_strategies([]) == []
    q = prediction_quality([])
    assert q.median_ape_energy is None and q.interval_coverage_energy is None and q.sweep_error_energy is None


def test_machine_pace_and_the_quality_of_trials_at_pace_by_hand():
    from green_estimate.validation.summary import machine_pace

    rows = [
        row(trial=0, pred_s=1.0, meas_s=1.0, pace=1.0),    # at pace, exact
        row(trial=1, pred_s=0.9, meas_s=1.0, pace=1.2),    # at pace (×1.2 < ×1.25), APE 0.10
        row(trial=2, pred_s=1.0, meas_s=2.0, pace=1.6),    # off pace (slower), APE 0.50, outside ±20 %
        row(trial=3, pred_s=1.0, meas_s=0.7, pace=0.75),   # off pace (faster: 1/0.75 = 1.33)
        row(trial=4, pred_s=1.0, meas_s=1.3, pace=None),   # not measured: neither counted nor at pace
    ]
    p = machine_pace(rows)
    assert (p.trials, p.off_pace, p.limit) == (4, 2, 1.25)
    assert (p.median, p.low, p.high) == (pytest.approx((1.0 + 1.2) / 2), 0.75, 1.6)
    a = p.at_pace
    assert a.trials == 2
    assert a.median_ape_time == pytest.approx((0.0 + 0.1) / 2)
    assert a.interval_coverage_time == 1.0
    assert a.sweep_error_time == pytest.approx((1.9 - 2.0) / 2.0)
    assert machine_pace([row(pace=None)]) is None
    assert machine_pace([row(pace=2.0)]).at_pace is None   # every trial off pace
