"""The four claims: each verdict on rows built so the arithmetic is visible."""
from __future__ import annotations

import math

import pytest

from green_estimate.validation.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    claim_bayes,
    claim_conv,
    claim_reduction,
    claim_returns,
)
from green_estimate.validation.summary import StrategySummary

from .rows_helper import row


def _s(strategy, trials, energy_near, best=0.95):
    return StrategySummary(strategy, trials, best, 1, 1.0, None if energy_near is None else 3, energy_near, 100.0, 100.0)


def test_claim1_needs_enough_trials_then_compares_energy_to_within_one_point():
    few = claim_bayes([_s("grid", 12, 100.0), _s("random", 12, None), _s("bayes", 12, 50.0)])
    assert few.verdict == INCONCLUSIVE and "too few" in few.summary
    win = claim_bayes([_s("grid", 20, 100.0), _s("random", 20, None), _s("bayes", 20, 50.0)])
    assert win.verdict == SUPPORTED and "bayes: 3 trials, 50 J" in win.summary and "random: never" in win.summary
    lose = claim_bayes([_s("grid", 20, 100.0), _s("random", 20, None), _s("bayes", 20, 150.0)])
    assert lose.verdict == NOT_SUPPORTED
    never = claim_bayes([_s("grid", 20, 100.0), _s("bayes", 20, None)])
    assert never.verdict == NOT_SUPPORTED
    assert claim_bayes([_s("grid", 20, 1.0)]).verdict == INCONCLUSIVE


def _cnn(trial, conv, linear, relu=0.0, blocks=2):
    return row(trial=trial, family="simple_cnn", conv_blocks=blocks, relu=True,
               by_class={"conv": conv, "linear": linear, "relu": relu})


def test_claim2_conv_share_from_predicted_classes():
    supported = claim_conv([_cnn(0, 3.0, 1.0, 0.2, blocks=1), _cnn(1, 6.0, 2.0, 0.4, blocks=2), row(trial=2)])
    assert supported.verdict == SUPPORTED
    assert supported.numbers["architectures"] == 2  # the dense row has no conv class
    assert supported.numbers["median_conv_to_next_ratio"] == pytest.approx(3.0)
    assert supported.numbers["median_share_of_step_energy"]["conv"] == pytest.approx(3.0 / 4.2)
    assert claim_conv([_cnn(0, 1.5, 1.0)]).verdict == INCONCLUSIVE  # leads, but only 1.5x
    assert claim_conv([_cnn(0, 0.5, 1.0)]).verdict == NOT_SUPPORTED
    assert claim_conv([row()]).verdict == INCONCLUSIVE
    no_relu = row(family="simple_cnn", conv_blocks=2, relu=False, by_class={"conv": 3.0, "linear": 1.0})
    assert claim_conv([no_relu]).verdict == INCONCLUSIVE  # needs all three classes present


def _curve(accs, energies=(1.0, 2.0, 4.0, 8.0, 16.0)):
    return [row(trial=i, linear_layers=3 + i, meas_j=e, acc=a) for i, (a, e) in enumerate(zip(accs, energies))]


def test_claim3_frontier_gains_over_the_cheap_and_costly_halves():
    # E0 = 1, E2 = 16, E1 = sqrt(16) = 4: frontier 0.80 -> 0.92 -> 0.93, gains 12 then 1 point.
    good = claim_returns(_curve([0.80, 0.90, 0.92, 0.93, 0.93]))
    assert good.verdict == SUPPORTED
    assert good.numbers["gain_cheap_half"] == pytest.approx(0.12)
    assert good.numbers["gain_costly_half"] == pytest.approx(0.01)
    # Ranks 1..5 against 1, 2, 3, 4.5, 4.5: sum dx*dy = 9.5, sum dx^2 = 10, sum dy^2 = 9.5.
    assert good.numbers["spearman_energy_accuracy"] == pytest.approx(9.5 / math.sqrt(10 * 9.5))
    # Frontier 0.50 -> 0.55 -> 0.95: the costly half buys more.
    assert claim_returns(_curve([0.50, 0.52, 0.55, 0.70, 0.95])).verdict == NOT_SUPPORTED
    assert claim_returns(_curve([0.5, 0.6, 0.7], (1.0, 2.0, 4.0))).verdict == INCONCLUSIVE
    assert claim_returns(_curve([0.5, 0.6, 0.7, 0.8], (1.0, 1.1, 1.2, 1.3))).verdict == INCONCLUSIVE


def _blocks(trial, blocks, energy, acc):
    return row(trial=trial, family="simple_cnn", conv_blocks=blocks, relu=True, meas_j=energy, acc=acc)


def test_claim4_reduction_halves_energy_at_small_cost():
    full = [_blocks(0, 4, 10.0, 0.90), _blocks(1, 4, 12.0, 0.85)]
    cheap = [_blocks(2, 1, 4.0, 0.89), _blocks(3, 1, 6.0, 0.70)]
    result = claim_reduction(full + cheap)
    entry = result.numbers["conv blocks 4 -> 1"]
    # median 5 J vs 11 J; best 0.90 vs 0.89.
    assert entry["energy_ratio"] == pytest.approx(5 / 11)
    assert entry["accuracy_cost"] == pytest.approx(0.01)
    assert result.verdict == SUPPORTED
    costly = [_blocks(2, 1, 4.0, 0.80), _blocks(3, 1, 6.0, 0.70)]
    assert claim_reduction(full + costly).verdict == NOT_SUPPORTED
    assert claim_reduction(full[:1] + cheap[:1]).verdict == INCONCLUSIVE


def test_claim4_matches_architectures_on_the_other_knobs():
    on = [row(trial=0, family="simple_cnn", conv_blocks=1, relu=True, meas_j=2.0, acc=0.9),
          row(trial=1, family="simple_cnn", conv_blocks=4, relu=True, meas_j=10.0, acc=0.9)]
    off = [row(trial=2, family="simple_cnn", conv_blocks=4, relu=False, meas_j=9.0, acc=0.9),
           row(trial=3, family="simple_cnn", conv_blocks=4, relu=False, meas_j=9.5, acc=0.9)]
    entry = claim_reduction(on + off).numbers["ReLU on -> off"]
    # Group medians would say 9.25 / 6 = 1.54x; matched on 4 conv blocks, 3 linear layers: 9.25 / 10.
    assert entry["energy_ratio"] == pytest.approx(0.925) and entry["matched_architectures"] == 1
