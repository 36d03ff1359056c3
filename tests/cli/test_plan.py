"""`green-estimate plan`: a sweep's total, its budget gate, the plan@1 JSON, and bad sweep files."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from green_estimate.cli.app import app
from tests.predictions import fake_prediction, predict_module, prediction_like, real_prediction

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rich wraps at the terminal width

SWEEP = """
model = "model.py"
strategy = "grid"
epochs = 1
steps = 10
grid_points = 4

[space]
batch_size = [10, 20]
lr = {low = 1e-4, high = 1e-1, log = true}

[space.model]
blocks = [1, 2, 3]
"""
# energy per run = 10 J × batch × 10 steps × blocks: batch 10 → 100, 200, 300 J... × 10; batch 20 doubles
COSTS = [10 * b * 10 * k for b in (10, 20) for k in (1, 2, 3)]
TOTAL = 4 * sum(COSTS)  # 4 learning rates per cost configuration


@pytest.fixture
def calls(monkeypatch):
    """Stand in for green_estimate.predict: energy = 10 J × batch × steps × blocks."""
    recorded: list[tuple[str, dict]] = []
    real_prediction()  # made by the real predict before it is stood in for

    def predict(model, *, batch_size=64, epochs=1, samples=None, steps=None, model_kwargs=None, **rest):
        recorded.append((model, {"batch_size": batch_size, "model_kwargs": model_kwargs, **rest}))
        steps = steps or math.ceil(samples / batch_size) * epochs
        energy = 10.0 * batch_size * steps * (model_kwargs or {}).get("blocks", 1)
        return fake_prediction(prediction_like(
            model=model, energy_j=energy, interval=(0.9, 1.1), time_s=2.0,
            plan={"batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps}))

    monkeypatch.setattr(predict_module(), "predict", predict)  # the predictor the library calls by default
    return recorded


@pytest.fixture
def sweep_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP)
    return path


def test_grid_total_is_the_exact_sum(calls, sweep_file):
    res = runner.invoke(app, ["plan", str(sweep_file), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["schema"] == "green-estimate/plan@1" and d["mode"] == "exact" and d["grid_size"] == 24
    assert d["total"]["energy_j"] == pytest.approx(TOTAL)
    assert d["total"]["energy_kwh"] == pytest.approx(TOTAL / 3.6e6)
    assert d["total"]["time_s"] == pytest.approx(24 * 2.0)
    assert d["most_expensive"]["params"] == {"batch_size": 20, "model.blocks": 3}
    assert d["least_expensive"]["energy_j"] == pytest.approx(min(COSTS))
    assert len(calls) == 6 and calls[0] == ("model.py", {"batch_size": 10, "model_kwargs": {"blocks": 1}})
    assert d["verdict"] is None


def test_text_output_names_most_and_least_expensive(calls, sweep_file):
    res = runner.invoke(app, ["plan", str(sweep_file), "--top", "3"], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "Total energy" in res.stdout and "sum over every grid point" in res.stdout
    assert "Most expensive: batch_size=20, blocks=3, 6 kJ per run" in res.stdout  # 10 × 20 × 10 × 3 J
    assert "Least expensive: batch_size=10, blocks=1, 1 kJ per run" in res.stdout
    assert "lr does not change what a trial costs" in res.stdout


def test_budget_gates_the_whole_sweep(calls, sweep_file):
    assert TOTAL == 4 * 1000 * (1 + 2 + 3) * 3  # 72 kJ
    assert runner.invoke(app, ["plan", str(sweep_file), "--budget", "72kJ"]).exit_code == 0
    over = runner.invoke(app, ["plan", str(sweep_file), "--budget", "70kJ"])
    assert over.exit_code == 1 and over.stderr == (  # 72 / 70 = 103 %
        "Over budget: the sweep's total 72 kJ is over the 70 kJ budget by 2 kJ (103% of budget)\n")
    # --conservative: the summed upper ends, 1.1 × 72 kJ = 79.2 kJ
    assert runner.invoke(app, ["plan", str(sweep_file), "--budget", "75kJ", "--conservative"]).exit_code == 1


def test_random_search_gives_expected_total_and_range(calls, sweep_file):
    sweep_file.write_text(SWEEP.replace('strategy = "grid"', 'strategy = "random"\ntrials = 8'))
    res = runner.invoke(app, ["plan", str(sweep_file), "--json", "--draws", "200", "--seed", "3"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["mode"] == "sampled" and d["trials"] == 8 and d["simulation"] == {"draws": 200, "seed": 3}
    assert d["total"]["energy_j"] == pytest.approx(8 * sum(COSTS) / len(COSTS))
    assert d["total"]["energy_j_possible"] == pytest.approx([8 * min(COSTS), 8 * max(COSTS)])
    low, high = d["total"]["energy_j_range"]
    assert 8 * min(COSTS) <= low < d["total"]["energy_j"] < high <= 8 * max(COSTS)
    text = runner.invoke(app, ["plan", str(sweep_file), "--draws", "200"], env=WIDE).stdout
    assert "Expected energy" in text and "5th–95th percentile of 200 simulated sweeps" in text


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ('strategy = "grid"', 'strategy = "ranodm"', "did you mean 'random'"),
        ("epochs = 1", "epoks = 1", "unknown key 'epoks'"),
        ("lr = {low = 1e-4, high = 1e-1, log = true}", "lr = {low = 1, high = 0.1}", "must not be greater than high"),
        ("grid_points = 4", "grid_points = 4\n[space.momentum]", "space.momentum: a range needs both low and high"),
        ("lr = {", "lrr = {", "unknown key 'lrr'"),
    ],
)
def test_sweep_typo_exits_2_with_one_line(calls, sweep_file, old, new, says):
    sweep_file.write_text(SWEEP.replace(old, new))
    res = runner.invoke(app, ["plan", str(sweep_file)])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and says in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    assert calls == []


def test_missing_sweep_file_exits_2(calls, tmp_path):
    res = runner.invoke(app, ["plan", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_example_sweeps_resolve_the_model_next_to_the_file(calls, monkeypatch):
    monkeypatch.chdir(ROOT)
    grid = runner.invoke(app, ["plan", "examples/ci/sweep.toml", "--json"])
    assert grid.exit_code == 0, grid.output
    assert {model for model, _ in calls} == {str(Path("examples/ci/model.py"))}
    # 3 conv_blocks × 2 linear_layers priced; × 5 learning rates × 2 beta1 values in the grid
    assert len(calls) == 6 and json.loads(grid.stdout)["grid_size"] == 6 * 5 * 2
    random = runner.invoke(app, ["plan", "examples/ci/sweep.yaml", "--json", "--draws", "100"])
    assert random.exit_code == 0, random.output
    assert json.loads(random.stdout)["trials"] == 64


def test_profile_and_region_default_to_the_project(calls, sweep_file):
    (sweep_file.parent / "pyproject.toml").write_text('[tool.green-estimate]\nprofile = "p1"\nregion = "FR"\n')
    assert runner.invoke(app, ["plan", str(sweep_file), "--region", "DE"]).exit_code == 0
    assert {(c[1]["profile"], c[1]["region"]) for c in calls} == {("p1", "DE")}


def test_a_folder_as_sweep_file_exits_2(calls, tmp_path):
    (tmp_path / "dir.toml").mkdir()
    res = runner.invoke(app, ["plan", str(tmp_path / "dir.toml")])
    assert res.exit_code == 2 and "cannot be read" in res.stderr
