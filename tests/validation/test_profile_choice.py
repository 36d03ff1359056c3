"""Which profile validate predicts with: the given one, this device's own, or a quick calibration."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import green_estimate.calibration.calibrator as calibrator
from green_estimate.fingerprint import cpu_fingerprint
from green_estimate.profile_store import profiles_dir
from green_estimate.validation.profile_choice import choose_profile


def write_local_profile(name: str, fingerprint: dict) -> None:
    model = {"form": "linear", "features": ["const"], "params": [1e-6], "cov": [[0.0]], "resid_rel_sd": 0.0,
             "df_resid": 1}
    data = {"schema": "green-estimate/profile@1", "name": name, "provenance": "estimated",
            "device": {"kind": "cpu", "name": "here", "fingerprint": fingerprint}, "meter": {"name": "fake"},
            "default_class": "elementwise", "classes": {"elementwise": {"time_s": model, "energy_j": model}}}
    profiles_dir().mkdir(parents=True, exist_ok=True)
    (profiles_dir() / f"{name}.json").write_text(json.dumps(data))


@pytest.fixture
def no_calibration(monkeypatch):
    monkeypatch.setattr(calibrator, "calibrate", lambda **kw: pytest.fail("calibrated although a profile existed"))


def test_a_given_profile_is_used(no_calibration):
    assert choose_profile("cpu-reference-2core", "cpu").profile.name == "cpu-reference-2core"


def test_this_devices_own_profile_is_used(no_calibration):
    write_local_profile("mine", cpu_fingerprint())
    choice = choose_profile(None, "cpu")
    assert choice.profile.name == "mine" and not choice.calibrated_now


@pytest.mark.parametrize("other", [{"cpu_model": "another CPU"},
                                   {"cpu_id": "another family/model/stepping"},  # a CPU of this one's name
                                   {"isa": "another instruction set"}])
def test_a_profile_of_another_cpu_is_not_this_devices(monkeypatch, other):
    import green_estimate.profile_store as store

    mine = {**cpu_fingerprint(), "cpu_id": "25/17/1", "isa": "AVX512"}  # as a Linux x86 machine knows itself
    monkeypatch.setattr(store, "cpu_fingerprint", lambda: mine)
    write_local_profile("elsewhere", {**mine, **other})
    calls = []

    def fake_calibrate(**kw):
        calls.append(kw)
        write_local_profile("fresh", mine)
        return SimpleNamespace(profile_path=profiles_dir() / "fresh.json", elapsed_s=1.0)

    monkeypatch.setattr(calibrator, "calibrate", fake_calibrate)
    said = []
    choice = choose_profile(None, "cpu", on_calibrating=said.append)
    assert said == ["green-estimate calibrate --cpu --quick"]
    assert calls == [{"gpu": None, "quick": True, "on_progress": None}]
    assert choice.calibrated_now and choice.profile.name == "fresh"


def test_without_calibrating_the_shipped_default_is_used(no_calibration):
    assert choose_profile(None, "cpu", calibrate=False).profile.name == "cpu-reference-2core"
