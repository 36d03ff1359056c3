"""`green-estimate check`: exit codes, the check@1 JSON, pyproject defaults, CI formats, the hook."""
from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from green_estimate.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ci"
KWH = 3.6e6
runner = CliRunner()


def fake_prediction(document: dict) -> SimpleNamespace:
    """What predict returns, as far as check and plan read it: an object with to_dict()."""
    return SimpleNamespace(to_dict=lambda: document)


@pytest.fixture
def calls(monkeypatch):
    """Stand in for green_estimate.predict (imported lazily by check): energy = 10 J × batch × steps."""
    recorded: list[tuple[str, dict]] = []

    def predict(model, *, batch_size=64, epochs=1, samples=None, steps=None, grid_intensity=None, **rest):
        recorded.append((model, {"batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps,
                                 "grid_intensity": grid_intensity, **rest}))
        given = samples or steps
        steps = steps or (math.ceil(samples / batch_size) * epochs if samples else epochs)  # as predict counts
        energy = 10.0 * batch_size * steps
        co2e = None if grid_intensity is None else energy / KWH * grid_intensity
        return fake_prediction({
            "schema": "green-estimate/prediction@1", "model": model,
            "profile": {"name": "fake", "device": "test CPU", "meter": "fake", "provenance": "estimated"},
            "plan": {"batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps},
            "confidence": 0.9,
            "notes": [] if given else ["No --samples or --steps given: the total is one step per epoch."],
            "total": {"energy_j": energy, "energy_j_interval": [0.8 * energy, 1.5 * energy],
                      "energy_kwh": energy / KWH, "time_s": energy / 50, "co2e_g": co2e},
        })

    monkeypatch.setitem(sys.modules, "green_estimate.predict", SimpleNamespace(predict=predict))
    return recorded


# 64 × 10 steps × 10 J = 6400 J
ARGS = ["check", "model.py", "--steps", "10"]


def test_generous_budget_exits_0(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "1kWh"])
    assert res.exit_code == 0, res.output
    assert "PASS" in res.stdout and "6.4 kJ" in res.stdout
    assert calls == [("model.py", {"batch_size": 64, "epochs": 1, "samples": None, "steps": 10,
                                   "grid_intensity": None})]


def test_tiny_budget_exits_1_and_says_over_budget(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "5kJ"])
    assert res.exit_code == 1
    assert res.stderr.startswith("Over budget: energy prediction 6.4 kJ is over the 5 kJ budget by 1.4 kJ")
    assert "FAIL" in res.stdout


def test_conservative_compares_the_upper_end(calls):
    assert runner.invoke(app, [*ARGS, "--budget", "7kJ"]).exit_code == 0
    res = runner.invoke(app, [*ARGS, "--budget", "7kJ", "--conservative", "--json"])
    assert res.exit_code == 1  # upper end 1.5 × 6400 J = 9600 J > 7000 J
    assert json.loads(res.stdout)["predicted"]["energy_j"] == pytest.approx(9600)


def test_json_carries_verdict_budget_and_prediction(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "2kWh", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["schema"] == "green-estimate/check@1" and d["verdict"] == "pass"
    assert d["budget"] == {"energy_j": pytest.approx(2 * KWH), "energy_kwh": pytest.approx(2.0), "co2e_g": None,
                           "compared": "point"}
    assert d["margin"]["energy_j"] == pytest.approx(2 * KWH - 6400)
    assert d["prediction"]["schema"] == "green-estimate/prediction@1"
    assert d["prediction"]["total"]["energy_j"] == pytest.approx(6400)
    assert json.loads(runner.invoke(app, [*ARGS, "--budget", "2kWh", "--format", "json"]).stdout) == d


def test_every_plan_option_reaches_predict(calls):
    res = runner.invoke(app, [
        "check", "pkg.models:Net", "--budget", "2kWh", "--batch-size", "32", "--epochs", "3", "--samples", "1000",
        "--optimizer", "sgd", "--input-shape", "3,32,32", "--profile", "cpu-ref", "--confidence", "0.8",
        "--grid-intensity", "400", "--region", "DE", "--co2-budget", "1kg"])
    assert res.exit_code == 0, res.output
    assert calls == [("pkg.models:Net", {
        "batch_size": 32, "epochs": 3, "samples": 1000, "steps": None, "grid_intensity": 400.0,
        "optimizer": "sgd", "input_shape": (3, 32, 32), "profile": "cpu-ref", "confidence": 0.8, "region": "DE"})]


def test_co2_budget(calls):
    # 6400 J = 6400 / 3.6e6 kWh at 400 g/kWh = 0.711 g
    ok = runner.invoke(app, [*ARGS, "--co2-budget", "1g", "--grid-intensity", "400", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["predicted"]["co2e_g"] == pytest.approx(6400 / KWH * 400)
    assert runner.invoke(app, [*ARGS, "--co2-budget", "0.5g", "--grid-intensity", "400"]).exit_code == 1


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--budget", "lots"], "--budget 'lots' is not an energy"),
        (["--budget", "2 furlongs"], "unknown unit 'furlongs'"),
        (["--budget", "0kWh"], "must be a positive"),
        (["--budget=-2kWh"], "must be a positive"),
        (["--budget", "2"], "has no unit"),
        (["--co2-budget", "500g"], "needs a grid carbon intensity"),
        ([], "no budget given"),
        (["--budget", "2kWh", "--input-shape", "3,a"], "is not a shape"),
    ],
)
def test_bad_input_exits_2_with_one_line(calls, tmp_path, monkeypatch, extra, says):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*ARGS, *extra])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and says in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    assert calls == []


def test_missing_section_and_no_model_exits_2(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["check"])
    assert res.exit_code == 2
    assert "no MODEL given" in res.stderr and "has no [tool.green-estimate] section" in res.stderr


def test_pyproject_defaults_and_cli_overrides(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.green-estimate]\nmodel = "net.py"\nbudget = "1MJ"\nepochs = 2\nsamples = 640\nbatch-size = 32\n')
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    res = runner.invoke(app, ["check", "--epochs", "5"])
    assert res.exit_code == 0, res.output
    assert calls == [(str(Path("..") / "net.py"),
                      {"batch_size": 32, "epochs": 5, "samples": 640, "steps": None, "grid_intensity": None})]
    # 10 J × 32 × (640 / 32 × 5 = 100 steps) = 32 kJ: over a 30 kJ budget given on the command line
    assert runner.invoke(app, ["check", "--epochs", "5", "--budget", "30kJ"]).exit_code == 1


def test_unknown_pyproject_key_exits_2_with_suggestion(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.green-estimate]\nbatch-sise = 8\n')
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*ARGS, "--budget", "1kWh"])
    assert res.exit_code == 2
    assert "unknown key 'batch-sise'" in res.stderr and "did you mean 'batch-size'?" in res.stderr


def test_config_option_points_elsewhere(calls, tmp_path, monkeypatch):
    other = tmp_path / "conf" / "pyproject.toml"
    other.parent.mkdir()
    other.write_text('[tool.green-estimate]\nbudget = "1kJ"\n')
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, [*ARGS, "--config", str(other)]).exit_code == 1  # 6.4 kJ > 1 kJ


def test_github_format_annotates_and_writes_the_step_summary(calls, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    res = runner.invoke(app, [*ARGS, "--budget", "5kJ", "--format", "github"],
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert res.exit_code == 1
    assert res.stdout.startswith("::error title=Energy budget exceeded::energy prediction 6.4 kJ is over")
    written = summary.read_text()
    assert written.startswith("earlier step\n### ❌ Training is over the energy budget")  # appended, not replaced
    assert "| Energy | 6.4 kJ | 5 kJ | 128.0% |" in written  # 6400 / 5000
    ok = runner.invoke(app, [*ARGS, "--budget", "1kWh", "--format", "github"], env={"GITHUB_STEP_SUMMARY": None})
    assert ok.exit_code == 0 and ok.stdout.startswith("::notice title=Energy budget::")


def test_markdown_format(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "8kJ", "--format", "markdown", "--conservative"])
    assert res.exit_code == 1  # upper end 9.6 kJ
    assert "| | predicted (upper end of interval) | budget | used |" in res.stdout
    assert "| Energy | 9.6 kJ | 8 kJ | 120.0% |" in res.stdout
    assert "Model `model.py`: 10 steps" in res.stdout


def test_workflow_is_valid_yaml_that_runs_check():
    workflow = yaml.safe_load((EXAMPLE / ".github" / "workflows" / "energy-budget.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    steps = workflow["jobs"]["energy-budget"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands
    assert "pip install green-estimate" in commands
    assert "green-estimate check --format github" in commands
    assert any(step.get("uses", "").startswith("actions/checkout@") for step in steps)


def test_docs_workflow_matches_the_example():
    docs = (ROOT / "docs" / "ci.md").read_text()
    assert (EXAMPLE / ".github" / "workflows" / "energy-budget.yml").read_text().strip() in docs


def test_pre_commit_hook_runs_check_on_the_example_project(calls, monkeypatch):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "green-estimate-check")
    assert hook["language"] == "python" and hook["pass_filenames"] is False and hook["files"] == r"\.py$"
    program, *args = shlex.split(hook["entry"])
    assert program == "green-estimate"
    monkeypatch.chdir(EXAMPLE)
    res = runner.invoke(app, args)
    # budget 5 kJ, conservative: upper end 1.5 × 10 J × 512 × (ceil(60000 / 512) = 118) × 25 epochs = 6.29 kWh
    assert 1.5 * 10 * 512 * 118 * 25 > 5e3
    assert res.exit_code == 1, res.output
    assert "6.29 kWh is over the 5 kJ budget by 6.29 kWh" in res.stderr
    # the defaults of examples/ci/pyproject.toml reached predict
    assert calls == [("model.py", {"batch_size": 512, "epochs": 25, "samples": 60000, "steps": None,
                                   "grid_intensity": None, "optimizer": "adam",
                                   "profile": "datasheet:a100-sxm4-40gb"})]
    assert runner.invoke(app, [*args, "--budget", "7kWh"]).exit_code == 0


def test_predict_notes_reach_the_output(calls):
    res = runner.invoke(app, ["check", "model.py", "--budget", "1kWh", "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "Note: No --samples or --steps given: the total is one step per epoch." in res.stdout
