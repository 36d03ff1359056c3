"""Budgets and verdicts: the point or the interval's upper end against energy and CO2e limits."""
from __future__ import annotations


import pytest

from green_estimate.budget import Budget
from green_estimate.check import CheckRequest, run_check
from green_estimate.verdict import evaluate
from green_estimate.errors import BudgetError
from tests.predictions import fake_prediction, prediction_like

KWH = 3.6e6


def prediction(energy_j: float, low: float, high: float, co2e_g: float | None = None) -> dict:
    """A full prediction@1 document (tests/predictions.py) with these totals."""
    return prediction_like(model="model.py", energy_j=energy_j, interval=(low / energy_j, high / energy_j),
                           co2e_g=co2e_g, plan={"batch_size": 64, "epochs": 1, "samples": 640, "steps": 10})


def test_budget_needs_a_positive_limit():
    with pytest.raises(BudgetError, match="no budget"):
        Budget()
    with pytest.raises(BudgetError, match="positive"):
        Budget(energy_j=0.0)
    with pytest.raises(BudgetError, match="positive"):
        Budget(co2e_g=-5.0)


def test_budget_parse_and_dict():
    budget = Budget.parse("2kWh", "1.5kg", conservative=True)
    assert budget.energy_j == pytest.approx(2 * KWH) and budget.co2e_g == pytest.approx(1500)
    assert budget.to_dict() == {"energy_j": pytest.approx(7.2e6), "energy_kwh": pytest.approx(2.0),
                                "co2e_g": pytest.approx(1500), "compared": "upper", "max_increase": None}
    with pytest.raises(BudgetError, match="--budget 'lots'"):
        Budget.parse("lots")


def test_within_budget_passes_with_margin():
    verdict = evaluate(prediction(1.0 * KWH, 0.8 * KWH, 1.5 * KWH), Budget(energy_j=2 * KWH))
    assert verdict.passed and verdict.verdict == "pass" and verdict.exceeded == []
    assert verdict.energy_j == pytest.approx(1.0 * KWH)  # the point estimate
    assert verdict.margin["energy_j"] == pytest.approx((2 - 1) * KWH)
    assert verdict.margin["energy_share"] == pytest.approx(1 / 2)
    assert verdict.lines() == ["energy prediction 1 kWh is within the 2 kWh budget (50% of budget)"]


def test_a_small_share_is_not_rounded_to_zero():
    verdict = evaluate(prediction(1000.0, 900.0, 1100.0), Budget(energy_j=KWH))
    assert verdict.lines() == ["energy prediction 1 kJ is within the 1 kWh budget (<1% of budget)"]


def test_exactly_at_budget_passes():
    assert evaluate(prediction(KWH, KWH, KWH), Budget(energy_j=KWH)).passed


def test_over_budget_fails_and_says_by_how_much():
    verdict = evaluate(prediction(2.5 * KWH, 2 * KWH, 3 * KWH), Budget(energy_j=2 * KWH))
    assert verdict.verdict == "fail" and verdict.exceeded == ["energy"]
    assert verdict.margin["energy_j"] == pytest.approx(-0.5 * KWH)
    assert verdict.lines() == ["energy prediction 2.5 kWh is over the 2 kWh budget by 0.5 kWh (125% of budget)"]


def test_conservative_compares_the_upper_end():
    doc = prediction(1.0 * KWH, 0.8 * KWH, 1.5 * KWH)
    assert evaluate(doc, Budget(energy_j=1.2 * KWH)).passed  # point 1.0 ≤ 1.2
    verdict = evaluate(doc, Budget(energy_j=1.2 * KWH, conservative=True))
    assert not verdict.passed and verdict.energy_j == pytest.approx(1.5 * KWH)  # upper 1.5 > 1.2
    assert verdict.to_dict()["budget"]["compared"] == "upper"
    assert verdict.lines()[0].startswith("energy upper bound 1.5 kWh is over")


def test_co2e_budget_and_its_conservative_upper_end():
    doc = prediction(1.0 * KWH, 0.8 * KWH, 1.5 * KWH, co2e_g=400.0)  # 1 kWh at 400 g/kWh
    verdict = evaluate(doc, Budget(co2e_g=500.0))
    assert verdict.passed and verdict.margin["co2e_g"] == pytest.approx(100.0)
    # upper end: 400 g × 1.5 kWh / 1.0 kWh = 600 g > 500 g
    upper = evaluate(doc, Budget(co2e_g=500.0, conservative=True))
    assert upper.co2e_g == pytest.approx(600.0) and upper.exceeded == ["co2e"]
    both = evaluate(doc, Budget(energy_j=0.5 * KWH, co2e_g=300.0))
    assert both.exceeded == ["energy", "co2e"]
    co2_only = evaluate(doc, Budget(energy_j=2 * KWH, co2e_g=300.0))
    assert len(co2_only.lines()) == 2
    over = "CO2e prediction 400 g is over the 300 g budget by 100 g (133% of budget)"
    assert co2_only.lines(exceeded_only=True) == [over]


def test_co2e_budget_without_intensity_is_a_usage_error():
    with pytest.raises(BudgetError, match="grid-intensity"):
        evaluate(prediction(KWH, KWH, KWH, co2e_g=None), Budget(co2e_g=500.0))


def test_check_document():
    doc = prediction(1.0 * KWH, 0.8 * KWH, 1.5 * KWH)
    d = evaluate(doc, Budget(energy_j=2 * KWH), config_path="pyproject.toml").to_dict()
    assert d["schema"] == "green-estimate/check@1" and d["verdict"] == "pass"
    assert d["budget"]["energy_kwh"] == pytest.approx(2.0) and d["budget"]["compared"] == "point"
    assert d["prediction"] == doc and d["config"] == "pyproject.toml" and d["model"] == "model.py"
    assert d["margin"]["energy_share"] == pytest.approx(0.5)


def test_run_check_hands_the_plan_to_predict():
    calls = []

    def fake_predict(model, **plan):
        calls.append((model, plan))
        # energy = 10 J per sample-step: 10 × 64 × 10 steps = 6400 J
        return fake_prediction(prediction(10.0 * 64 * 10, 6000.0, 7000.0))

    request = CheckRequest("model.py", Budget(energy_j=6500.0), {"batch_size": 64, "steps": 10})
    verdict = run_check(request, fake_predict)
    assert calls == [("model.py", {"batch_size": 64, "steps": 10})]
    assert verdict.passed and verdict.margin["energy_j"] == pytest.approx(6500 - 6400)
    conservative = CheckRequest("model.py", Budget(energy_j=6500.0, conservative=True), {"steps": 10})
    assert not run_check(conservative, fake_predict).passed  # upper 7000 > 6500


def test_run_check_refuses_co2e_budget_without_intensity_before_predicting():
    def never(model, **plan):
        raise AssertionError("predict must not run")

    with pytest.raises(BudgetError, match="--grid-intensity"):
        run_check(CheckRequest("model.py", Budget(co2e_g=500.0), {"epochs": 2}), never)
