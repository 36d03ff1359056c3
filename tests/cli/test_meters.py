"""`green-estimate meters`: JSON contract, table, --gpu handed through, exit 0."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from green_estimate.cli.app import app

runner = CliRunner()


def test_meters_json_contract():
    result = runner.invoke(app, ["meters", "--json", "--gpu", "3"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "green-estimate/meters@1"
    assert [m["name"] for m in doc["meters"]] == ["nvml", "rapl", "estimate"]
    for m in doc["meters"]:
        assert set(m) >= {"name", "available", "status", "provenance", "device", "reason", "fix", "details"}
        if not m["available"]:
            assert m["reason"] and m["fix"], m
    assert doc["meters"][0]["details"]["gpu_index"] == 3
    assert doc["best"] == next(m["name"] for m in doc["meters"] if m["available"])
    assert doc["meters"][2]["provenance"] == "estimated" and doc["meters"][2]["available"]


def test_meters_table_exits_zero_and_names_the_best():
    result = runner.invoke(app, ["meters"])
    assert result.exit_code == 0, result.output
    assert "Energy meters" in result.stdout and "estimate" in result.stdout
    assert "Best meter here:" in result.stdout


def test_meters_help_has_an_example():
    result = runner.invoke(app, ["meters", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
