"""Sweep files, grid expansion and sampling, and the energy of a whole sweep against hand arithmetic."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from green_estimate.budget import Budget
from green_estimate.verdict import Verdict
from green_estimate.errors import ConfigError
from green_estimate.sweep import Parameter, load_sweep, parse_sweep
from green_estimate.sweep_plan import plan_sweep
from tests.predictions import fake_prediction, prediction_like

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ci"


class FakePredictor:
    """energy = 10 J × batch_size × steps × width; interval [0.9, 1.2] × energy; time = energy / 100 W."""

    def __init__(self, co2e_g_per_j: float | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.co2e_g_per_j = co2e_g_per_j

    def __call__(self, model: str, **plan) -> SimpleNamespace:
        self.calls.append((model, plan))
        steps = plan.get("steps") or math.ceil(plan["samples"] / plan["batch_size"]) * plan.get("epochs", 1)
        energy = 10.0 * plan["batch_size"] * steps * plan.get("model_kwargs", {}).get("width", 1)
        co2e = None if self.co2e_g_per_j is None else energy * self.co2e_g_per_j
        return fake_prediction(prediction_like(
            model=model, energy_j=energy, interval=(0.9, 1.2), time_s=energy / 100.0, co2e_g=co2e,
            plan={"batch_size": plan["batch_size"], "epochs": plan.get("epochs", 1), "samples": plan.get("samples"),
                  "steps": steps}))


def sweep_doc(**overrides) -> dict:
    # batch 100: ceil(1000/100) × 2 = 20 steps; batch 300: ceil(1000/300) × 2 = 8 steps
    # energy per run (width 1): 10 × 100 × 20 = 20 000 J and 10 × 300 × 8 = 24 000 J; width 2 doubles it
    doc = {"model": "model.py", "strategy": "grid", "epochs": 2, "samples": 1000, "grid_points": 3,
           "space": {"batch_size": [100, 300], "lr": {"low": 1e-4, "high": 1e-2, "log": True},
                     "model": {"width": [1, 2]}}}
    doc.update(overrides)
    return doc


COSTS = [20_000, 40_000, 24_000, 48_000]  # (100, 1), (100, 2), (300, 1), (300, 2)


def test_grid_values_of_ranges():
    assert Parameter("x", low=0, high=1).grid(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert Parameter("x", low=1e-4, high=1, log=True).grid(5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1])
    # 1, 1.75, 2.5, 3.25, 4 rounded (half to even) and de-duplicated
    assert Parameter("x", low=1, high=4, integer=True).grid(5) == [1, 2, 3, 4]
    assert Parameter("x", values=("a", "b")).grid(5) == ["a", "b"]


def test_sampling_support():
    assert Parameter("x", low=1, high=4, integer=True).support(5) == [(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]
    # log-uniform on [0.5, 3.5], rounded: P(v) = ln((v+.5)/(v-.5)) / ln(3.5/0.5)
    support = dict(Parameter("x", low=1, high=3, integer=True, log=True).support(5))
    assert support[1] == pytest.approx(math.log(1.5 / 0.5) / math.log(7))
    assert support[3] == pytest.approx(math.log(3.5 / 2.5) / math.log(7))
    assert sum(support.values()) == pytest.approx(1.0)
    # a float range: the midpoints of 4 equal-probability bins
    assert Parameter("x", low=0, high=1).support(4) == [(0.125, 0.25), (0.375, 0.25), (0.625, 0.25), (0.875, 0.25)]


def test_full_grid_is_an_exact_sum():
    predict = FakePredictor()
    result = plan_sweep(parse_sweep(sweep_doc()), predict)
    # 4 cost configurations × 3 learning rates = 12 grid points, each cost configuration predicted once
    assert len(predict.calls) == 4
    assert result.exact and result.grid_size == 12 and result.trials == 12
    assert result.energy_j == pytest.approx(3 * sum(COSTS))
    assert result.energy_j_range == pytest.approx((0.9 * 3 * sum(COSTS), 1.2 * 3 * sum(COSTS)))
    assert result.energy_j_upper == pytest.approx(1.2 * 3 * sum(COSTS))
    assert result.time_s == pytest.approx(3 * sum(COSTS) / 100)
    assert result.co2e_g is None
    d = result.to_dict()
    assert d["schema"] == "green-estimate/plan@1" and d["mode"] == "exact"
    assert d["most_expensive"]["params"] == {"batch_size": 300, "model.width": 2}
    assert d["most_expensive"]["energy_j"] == pytest.approx(48_000)
    assert d["least_expensive"]["params"] == {"batch_size": 100, "model.width": 1}
    assert [c["trials"] for c in d["configurations"]] == pytest.approx([3, 3, 3, 3])
    assert sum(c["share"] for c in d["configurations"]) == pytest.approx(1.0)
    assert d["parameters"] == {"cost": ["batch_size", "model.width"], "free": ["lr"]}
    assert any("lr does not change what a trial costs" in note for note in d["notes"])


def test_predict_receives_the_plan_and_model_kwargs():
    predict = FakePredictor()
    doc = sweep_doc(model_kwargs={"classes": 10}, optimizer="sgd", input_shape=[1, 28, 28])
    plan_sweep(parse_sweep(doc), predict, profile="cpu-ref", region="DE")
    assert predict.calls[0] == ("model.py", {"epochs": 2, "samples": 1000, "batch_size": 100, "optimizer": "sgd",
                                             "input_shape": (1, 28, 28), "profile": "cpu-ref", "region": "DE",
                                             "model_kwargs": {"classes": 10, "width": 1}})


def test_random_search_expected_total_and_range():
    doc = sweep_doc(strategy="random", trials=10)
    result = plan_sweep(parse_sweep(doc), FakePredictor(co2e_g_per_j=1e-4), draws=4000, seed=1)
    mean = sum(COSTS) / 4  # each cost configuration equally likely
    assert not result.exact and result.grid_size is None and result.trials == 10
    assert result.energy_j == pytest.approx(10 * mean)
    assert result.co2e_g == pytest.approx(10 * mean * 1e-4)
    assert result.energy_j_possible == pytest.approx((10 * min(COSTS), 10 * max(COSTS)))
    # the sum of 10 independent trials: sd = sqrt(10) × sd of one trial; 5th-95th ≈ mean ± 1.645 sd
    sd = math.sqrt(10 * sum((c - mean) ** 2 for c in COSTS) / 4)
    low, high = result.energy_j_range
    assert low == pytest.approx(10 * mean - 1.645 * sd, rel=0.05)
    assert high == pytest.approx(10 * mean + 1.645 * sd, rel=0.05)
    again = plan_sweep(parse_sweep(doc), FakePredictor(), draws=4000, seed=1)
    assert again.energy_j_range == result.energy_j_range  # seeded


def test_grid_with_fewer_trials_is_drawn_without_replacement():
    result = plan_sweep(parse_sweep(sweep_doc(trials=5)), FakePredictor(), draws=500)
    assert not result.exact and result.grid_size == 12 and result.trials == 5
    assert result.energy_j == pytest.approx(5 * sum(COSTS) / 4)
    # the 12 grid points cost 20k, 24k, 40k, 48k three times each
    assert result.energy_j_possible == pytest.approx((3 * 20_000 + 2 * 24_000, 3 * 48_000 + 2 * 40_000))
    assert any("5 of the 12 grid points" in note for note in result.notes)


def test_bayes_notes_its_concentration_and_int_ranges_are_enumerated():
    doc = sweep_doc(strategy="bayes", trials=4)
    doc["space"]["model"] = {"width": {"low": 1, "high": 3, "int": True}}
    predict = FakePredictor()
    result = plan_sweep(parse_sweep(doc), predict)
    assert len(predict.calls) == 2 * 3  # batch sizes × widths 1, 2, 3
    # E[cost] = mean over batch (20k, 24k per unit width) × mean width 2
    assert result.energy_j == pytest.approx(4 * (20_000 + 24_000) / 2 * 2)
    assert any("Bayesian search concentrates" in note for note in result.notes)


def test_budget_verdict():
    sweep = parse_sweep(sweep_doc())
    total = 3 * sum(COSTS)
    assert plan_sweep(sweep, FakePredictor(), budget=Budget(energy_j=total)).verdict == "pass"
    assert plan_sweep(sweep, FakePredictor(), budget=Budget(energy_j=total - 1)).verdict == "fail"
    conservative = Budget(energy_j=1.1 * total, conservative=True)  # upper end 1.2 × total
    over = plan_sweep(sweep, FakePredictor(), budget=conservative)
    assert over.verdict == "fail"
    assert plan_sweep(sweep, FakePredictor()).verdict is None
    # the same Verdict as check's: the upper end compared, the limit it broke, the sentence
    verdict = over.budget_verdict
    assert isinstance(verdict, Verdict) and verdict.exceeded == ["energy"]
    assert verdict.energy_j == pytest.approx(1.2 * total) and verdict.margin["energy_share"] == pytest.approx(1.2 / 1.1)
    assert verdict.lines()[0].startswith("the sweep's upper end ")


def test_too_many_configurations_is_refused_before_predicting():
    doc = sweep_doc()
    doc["space"]["model"] = {"width": list(range(1, 200))}
    with pytest.raises(ConfigError, match="398 distinct cost-relevant configurations"):
        plan_sweep(parse_sweep(doc), FakePredictor(), max_configs=256)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"trails": 64}, "unknown key 'trails'.*did you mean 'trials'"),
        ({"strategy": "grdi"}, "unknown strategy 'grdi'.*did you mean 'grid'\\? choose one of: grid, random, bayes"),
        ({"space": {}}, "space\\] is missing or empty"),
        ({"space": {"lr": {"low": 1, "high": 0.1}}}, "space.lr: low = 1 must not be greater than high = 0.1"),
        ({"space": {"lr": {"low": 0.1, "hgh": 1}}}, "unknown key 'hgh'.*did you mean 'high'"),
        ({"space": {"batchsize": [64, 128]}}, "unknown key 'batchsize'.*did you mean 'batch_size'"),
        ({"space": {"lrr": [0.1, 0.01]}}, "unknown key 'lrr'.*did you mean 'lr'.*\\[space.model\\]"),
        ({"space": {"lr": {"low": 0, "high": 1, "log": True}}}, "log range needs low > 0"),
        ({"space": {"lr": []}}, "empty list"),
        ({"space": {"lr": 0.1}}, "give a list of values or a range"),
        ({"space": {"model": {"batch_size": [1]}}}, "batch_size belongs in \\[space\\]"),
        ({"strategy": "random"}, "needs trials"),
        ({"samples": None}, "needs samples"),
        ({"trials": 0}, "trials = 0 must be a positive integer"),
        ({"batch_size": 64}, "batch_size both"),
        ({"model": ""}, "needs model"),
    ],
)
def test_sweep_typos_are_config_errors(change, says):
    doc = sweep_doc(**change)
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(ConfigError, match=says):
        parse_sweep(doc)


def test_example_sweep_files_load(tmp_path, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent.parent)  # the repository root
    grid = load_sweep(Path("examples/ci/sweep.toml"))
    assert grid.strategy == "grid" and grid.model == str(Path("examples/ci/model.py"))
    assert [p.name for p in grid.cost_parameters] == ["model.conv_blocks", "model.linear_layers"]
    random = load_sweep(Path("examples/ci/sweep.yaml"))
    assert random.strategy == "random" and random.trials == 64
    lr = next(p for p in random.parameters if p.name == "lr")
    assert (lr.low, lr.high, lr.log) == (1e-5, 0.1, True)
    (tmp_path / "sweep.json").write_text("{}")
    with pytest.raises(ConfigError, match=".toml, .yaml or .yml"):
        load_sweep(tmp_path / "sweep.json")
    (tmp_path / "bad.yaml").write_text("space: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sweep(tmp_path / "bad.yaml")


@pytest.mark.parametrize("space", ['batch_size = ["64", 128]', "batch_size = [0, 64]",
                                   "batch_size = {low = 32, high = 256}"])
def test_bad_batch_sizes_are_config_errors(tmp_path, space):
    from green_estimate.errors import ConfigError
    from green_estimate.sweep import load_sweep

    p = tmp_path / "s.toml"
    p.write_text(f'model = "m.py"\nstrategy = "grid"\nepochs = 1\nsamples = 100\n[space]\n{space}\n')
    with pytest.raises(ConfigError, match="batch"):
        load_sweep(p)


def test_plan_says_which_profile_priced_it_and_its_provenance():
    from green_estimate.sweep import parse_sweep
    from green_estimate.sweep_plan import plan_sweep

    def predict(model, **plan):
        doc = FakePredictor()(model, **plan).to_dict()
        doc["profile"] = {"name": "cpu-ref", "device": "a CPU", "provenance": "estimated", "time_provenance": "measured"}
        doc["notes"] = ["Energy figures are estimated."]
        return fake_prediction(doc)

    result = plan_sweep(parse_sweep(sweep_doc()), predict_fn=predict)
    assert result.notes[0] == "priced with profile cpu-ref (a CPU): energy estimated, time measured"
    assert result.notes.count("Energy figures are estimated.") == 1  # once, not once per configuration


def test_grad_accum_and_data_parallel_keys_reach_predict():
    predict = FakePredictor()
    doc = sweep_doc(grad_accum=4, gpus=16, nodes=2, interconnect="nvlink4,ib-ndr")
    plan_sweep(parse_sweep(doc), predict)
    plan = predict.calls[0][1]
    assert (plan["grad_accum"], plan["gpus"], plan["nodes"], plan["interconnect"]) == (4, 16, 2, "nvlink4,ib-ndr")
    for key, value in (("grad_accum", 0), ("gpus", "8"), ("interconnect", 4)):
        with pytest.raises(ConfigError, match=key):
            parse_sweep(sweep_doc(**{key: value}))
