"""The shipped JSON Schemas: valid draft 2020-12, package data, and strict enough to catch a broken document."""
from __future__ import annotations

import copy
import fnmatch
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from green_estimate.errors import UsageError
from green_estimate.schemas import NAMES, all_schemas, load_schema
from tests.jsonschemas import assert_valid, errors

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema(name):
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == f"green-estimate/{name}"
    assert load_schema(f"green-estimate/{name}") == schema


def test_unknown_schema_name_says_which_exist():
    with pytest.raises(UsageError, match="cost@1, prediction@1, check@1"):
        load_schema("plan@1")


def test_schemas_are_package_data():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["green_estimate"]
    for name in NAMES:
        rel = f"schemas/{name}.json"
        assert (ROOT / "green_estimate" / rel).is_file()
        assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} is not matched by package-data {globs}"
    assert set(all_schemas()) == {f"urn:green-estimate:schema:{n}" for n in NAMES}


def test_the_shared_prediction_fixture_is_full_and_valid(prediction_document):
    d = prediction_document
    assert_valid(d, "prediction@1")
    # a full document: CO2e filled in (region DE), every optional block the CLI renders is there
    assert d["total"]["co2e_g"] > 0 and d["grid_intensity"]["region"] == "DE"
    for key in ("precision", "step", "uncounted_ops", "interval", "notes", "parallel"):
        assert key in d
    # 100 samples, batch 8, 2 epochs: ceil(100 / 8) = 13 steps per epoch
    assert d["plan"]["steps"] == 26
    assert d["total"]["energy_j"] == pytest.approx(26 * d["per_step"]["energy_j"])


BREAKAGES = {
    "a required key dropped": (lambda d: d["total"].pop("energy_j"), "total: 'energy_j' is a required property"),
    "an unknown provenance": (lambda d: d["profile"].update(provenance="guessed"), "profile/provenance"),
    "an interval of three numbers": (lambda d: d["per_step"]["energy_j_interval"].append(1.0),
                                     "per_step/energy_j_interval"),
    "a negative energy": (lambda d: d["per_step"].update(energy_j=-1.0), "per_step/energy_j"),
    "a required class missing": (lambda d: d["by_class"].pop("relu"), "by_class: 'relu' is a required property"),
    "confidence of 1": (lambda d: d.update(confidence=1.0), "confidence"),
    "another schema name": (lambda d: d.update(schema="green-estimate/prediction@2"), "schema"),
}


@pytest.mark.parametrize("break_it, where", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_prediction_schema_rejects_a_broken_document(prediction_document, break_it, where):
    d = copy.deepcopy(prediction_document)
    break_it(d)
    found = errors(d, "prediction@1")
    assert any(e.startswith(where) for e in found), found


def test_check_schema_validates_the_prediction_inside(prediction_document):
    from green_estimate.budget import Budget
    from green_estimate.verdict import evaluate

    doc = evaluate(prediction_document, Budget(energy_j=1e9)).to_dict()
    assert_valid(doc, "check@1")
    doc["prediction"]["total"].pop("energy_kwh")
    assert any(e.startswith("prediction/total") for e in errors(doc, "check@1"))


def test_cost_schema_rejects_a_missing_phase(prediction_document):
    import torch.nn as nn

    import green_estimate as ge

    doc = ge.count(nn.Linear(8, 2), input_shape=(8,), batch_size=2).to_dict()
    assert_valid(doc, "cost@1")
    doc["by_class"]["linear"]["by_phase"].pop("optimizer")
    assert any("optimizer" in e for e in errors(doc, "cost@1"))
