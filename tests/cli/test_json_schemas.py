"""Every ``--json`` document of count, predict and check matches its shipped JSON Schema.

The CLI runs for real (the example CNN, shipped profiles), across the profile kinds and options that
change the document's shape: the calibrated CPU profile, a measured-runs profile, a datasheet profile
with data parallelism over nodes, mixed precision, FSDP, a carbon region, a baseline comparison.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from green_estimate.cli.app import app
from tests.jsonschemas import assert_valid

EXAMPLE = str(Path(__file__).resolve().parents[2] / "green_estimate" / "examples" / "simple_cnn.py")
runner = CliRunner()


def run_json(args: list[str], exit_code: int = 0) -> dict:
    res = runner.invoke(app, args)
    assert res.exit_code == exit_code, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("extra", [
    [],
    ["--precision", "bf16", "--target", "gpu", "--optimizer", "sgd", "--modules", "3"],
    ["--compare", "--target", "cpu", "--optimizer", "none"],
])
def test_count_json_matches_cost_schema(extra):
    doc = run_json(["count", EXAMPLE, "--json", "--batch-size", "4", *extra])
    assert doc["schema"] == "green-estimate/cost@1"
    assert_valid(doc, "cost@1")


PREDICTIONS = {
    "calibrated CPU profile, samples and epochs": ["--samples", "100", "--epochs", "2"],
    "measured-runs profile": ["--profile", "gtx-1080-yarally-cain2023", "--steps", "5"],
    "datasheet, DDP on 2 nodes, bf16, region": ["--profile", "datasheet:h100-sxm", "--gpus", "4", "--nodes", "2",
                                                "--precision", "bf16", "--region", "DE", "--steps", "7"],
    "datasheet, FSDP, fp16, grad-accum, intensity": ["--profile", "datasheet:a100-sxm4-80gb", "--gpus", "8", "--fsdp",
                                                     "--precision", "fp16", "--grad-accum", "4",
                                                     "--grid-intensity", "300", "--samples", "1000"],
    "datasheet tf32 on one GPU": ["--profile", "datasheet:h100-sxm", "--precision", "tf32"],
}


@pytest.mark.parametrize("extra", PREDICTIONS.values(), ids=PREDICTIONS.keys())
def test_predict_json_matches_prediction_schema(extra):
    doc = run_json(["predict", EXAMPLE, "--json", "--batch-size", "4", *extra])
    assert_valid(doc, "prediction@1")
    gpus = int(extra[extra.index("--gpus") + 1]) if "--gpus" in extra else 1
    assert doc["plan"]["gpus"] == gpus
    assert (doc["parallel"] is None) == (gpus == 1)
    assert (doc["total"]["co2e_g"] is None) == ("--region" not in extra and "--grid-intensity" not in extra)


def test_each_prediction_of_a_comparison_matches_the_schema():
    doc = run_json(["predict", EXAMPLE, EXAMPLE, "--json", "--batch-size", "4", "--steps", "3"])
    assert doc["schema"] == "green-estimate/comparison@1"
    assert len(doc["predictions"]) == 2
    for p in doc["predictions"]:
        assert_valid(p, "prediction@1")


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    """Run check outside any pyproject.toml with a [tool.green-estimate] section."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_json_pass_and_fail_match_check_schema(elsewhere):
    common = ["check", EXAMPLE, "--json", "--batch-size", "4"]
    passed = run_json([*common, "--steps", "10", "--budget", "1kWh", "--co2-budget", "1kg", "--region", "DE"])
    failed = run_json([*common, "--steps", "100000", "--budget", "1J", "--conservative"], exit_code=1)
    for doc, verdict in ((passed, "pass"), (failed, "fail")):
        assert_valid(doc, "check@1")
        assert doc["verdict"] == verdict
    assert failed["exceeded"] == ["energy"] and failed["budget"]["compared"] == "upper"


def test_check_json_with_a_saved_baseline_matches_check_schema(elsewhere):
    saved = elsewhere / "base.json"
    saved.write_text(json.dumps(run_json(["predict", EXAMPLE, "--json", "--batch-size", "4", "--steps", "10"])))
    doc = run_json(["check", EXAMPLE, "--json", "--batch-size", "4", "--steps", "10", "--max-increase", "10%",
                    "--baseline-json", str(saved)])
    assert_valid(doc, "check@1")
    assert doc["baseline"]["source"] == "json" and doc["baseline"]["increase"] == pytest.approx(0.0, abs=1e-9)
    assert_valid(doc["baseline"]["prediction"], "prediction@1")
