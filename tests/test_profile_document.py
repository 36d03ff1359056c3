"""Profile documents built from typed parts: each writer's key order, entries left out when absent,
inputs left alone, and the result loads as a Profile."""
from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from green_estimate.datasheet import datasheet_profile
from green_estimate.price_models import ClassModel
from green_estimate.profile import SCHEMA, Profile
from green_estimate.profile_document import (
    DATASHEET, ClassEntry, DeviceEntry, MeterEntry, ProfileDocument)

TIME = ClassModel(["const", "flops"], [1e-5, 1e-11], [[1e-12, 0.0], [0.0, 1e-24]], 0.1, 20)
STEP = {"form": "incontext@1", "features": ["op_time_s", "const", "dispatches", "param_tensors"],
        "time_s": {"params": [1.0, 1e-4, 1e-6, 1e-6]}, "power_w": {"classes": {}, "rest_w": 10.0},
        "interval": {}, "n_samples": 3}


def _calibrated(**changes) -> ProfileDocument:
    entry = ClassEntry(TIME, TIME.times(20.0), 12, {"time_s": {"median_ape": 0.1}}, n_networks=4, power_w=20.0)
    parts = dict(classes={"linear": entry}, default_class="linear", created_utc="2026-01-01T00:00:00+00:00",
                 time_provenance="measured", step_model=STEP,
                 extras={"energy_basis": "total", "dtype": "float32", "method": "in-context", "idle_power_w": None})
    return ProfileDocument(**{**parts, **changes})


def test_times_scales_params_by_the_factor_and_the_covariance_by_its_square():
    energy = TIME.times(20.0)
    assert energy.params == pytest.approx([2e-4, 2e-10])  # 1e-5 × 20, 1e-11 × 20
    assert [c for row in energy.cov for c in row] == pytest.approx([4e-10, 0.0, 0.0, 4e-22])  # 1e-12 × 400, 1e-24 × 400
    assert (energy.features, energy.resid_rel_sd, energy.df_resid) == (TIME.features, 0.1, 20)


def test_a_calibrated_document_keeps_calibrations_key_order_and_its_none_extras():
    doc = _calibrated(name="cpu-x", device=DeviceEntry("cpu", "X (4 threads)", {"kind": "cpu"}),
                      meter=MeterEntry("fake", "cpu", passed_over=[]), provenance="estimated").to_dict()
    assert list(doc) == ["schema", "created_utc", "time_provenance", "energy_basis", "dtype", "method",
                         "default_class", "classes", "step_model", "name", "device", "meter", "provenance",
                         "idle_power_w"]
    assert doc["schema"] == SCHEMA and doc["idle_power_w"] is None  # an extra's None is written
    assert list(doc["classes"]["linear"]) == ["n_samples", "n_networks", "time_s", "cv", "energy_j", "power_w"]
    assert doc["device"] == {"kind": "cpu", "name": "X (4 threads)", "fingerprint": {"kind": "cpu"}}
    assert doc["meter"] == {"name": "fake", "device": "cpu", "passed_over": []}  # no power: no power_w key


def test_a_fitted_document_without_name_or_meter_leaves_those_keys_out():
    doc = _calibrated().to_dict()
    assert not {"name", "device", "meter", "provenance"} & set(doc)


def test_the_datasheet_layout_orders_class_entries_as_the_datasheet_wrote_them():
    entry = ClassEntry(TIME, TIME, 0, {"time_s": None, "energy_j": None})
    assert list(entry.to_dict(DATASHEET)) == ["n_samples", "time_s", "energy_j", "cv"]
    profile = datasheet_profile("h100-sxm")
    assert list(profile)[:6] == ["schema", "name", "created_utc", "device", "meter", "provenance"]
    assert list(profile)[-3:] == ["classes", "datasheet", "sources"]


def test_meter_entry_of_a_meter_takes_its_stated_power_and_the_meters_passed_over():
    meter = SimpleNamespace(name="estimate", device="cpu", power_w=35.0, power_source="TDP",
                            passed_over=[("rapl", "not readable")])
    assert MeterEntry.of(meter).to_dict() == {"name": "estimate", "device": "cpu", "power_w": 35.0,
                                              "power_source": "TDP", "passed_over": [("rapl", "not readable")]}
    runs = MeterEntry("measured-runs", "GPU", runs_meters=["nvml"], power_source="fitted").to_dict()
    assert list(runs) == ["name", "device", "runs_meters", "power_source"]


def test_building_leaves_the_parts_alone_and_gives_a_profile_of_the_document():
    doc = _calibrated(name="p")
    before = copy.deepcopy((doc.step_model, doc.extras, TIME))
    profile = doc.build(origin="test")
    assert isinstance(profile, Profile) and profile.origin == "test"
    assert profile.data == doc.to_dict() and profile.models["linear"]["energy_j"].params == pytest.approx([2e-4, 2e-10])
    assert (doc.step_model, doc.extras, TIME) == before
    profile.data["classes"]["linear"]["time_s"]["params"].append(0.0)  # the document's lists are its own
    assert TIME.params == [1e-5, 1e-11]
