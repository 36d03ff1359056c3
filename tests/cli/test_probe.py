"""`probe` measures this CPU's device probe again, caches it in place of the old one, and shows how a
profile is carried here with it."""
from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import green_estimate.device_probe as probe_mod
from green_estimate.cli.app import app
from green_estimate.fingerprint import cpu_fingerprint
from green_estimate.profile_store import profiles_dir
from tests.test_incontext_pricing import PROBE, incontext_profile

runner = CliRunner()


@pytest.fixture()
def probes(monkeypatch):
    """Each measured probe a fake one: GEMMs at 1, 2, 3 ... × 10 GFLOP/s in turn, everything else fixed."""
    made = []

    def fake():
        made.append(1)
        return {"schema": probe_mod.PROBE_SCHEMA, "method": probe_mod.PROBE_METHOD, **PROBE,
                "gemm_flops_per_s": 1e10 * len(made), "conv_flops_per_s": 4e10, "fingerprint": cpu_fingerprint(),
                "fresh_page_s_per_byte": 2e-10, "unmap_s_per_byte": 7e-11,
                "measured_utc": f"2026-11-30T0{len(made)}:00:00Z"}

    monkeypatch.setattr(probe_mod, "run_probe", fake)
    return made


def _foreign_profile() -> str:
    data = incontext_profile(fingerprint={"cpu_model": "elsewhere", "threads": 2},
                             probe={**PROBE, "conv_flops_per_s": 8e10})
    profiles_dir().mkdir(parents=True, exist_ok=True)
    (profiles_dir() / "elsewhere.json").write_text(json.dumps(data))
    return data["name"]


def test_probe_measures_again_and_replaces_the_cached_probe(probes):
    name = _foreign_profile()
    first = runner.invoke(app, ["probe", "--profile", name, "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["schema"] == "green-estimate/probe-report@1" and doc["previous"] is None
    assert doc["probe"]["gemm_flops_per_s"] == 1e10 and doc["probe"]["cached"] is False
    # the profile's machine ran GEMMs at 1e11 FLOP/s, this CPU at 1e10: its GEMM time ×10 here
    assert doc["profile"]["carried"] is True and doc["profile"]["ratios"]["flops"] == pytest.approx(10.0)
    assert doc["profile"]["ratios"]["conv_flops"] == pytest.approx(2.0)  # 8e10 there, 4e10 here
    second = json.loads(runner.invoke(app, ["probe", "--profile", name, "--json"]).stdout)
    assert second["previous"]["gemm_flops_per_s"] == 1e10 and second["probe"]["gemm_flops_per_s"] == 2e10
    assert len(probes) == 2
    # what predict now uses is the new probe
    assert probe_mod.probe_here()["gemm_flops_per_s"] == 2e10 and len(probes) == 2
    cached = json.loads(runner.invoke(app, ["probe", "--cached", "--json"]).stdout)
    assert cached["probe"]["cached"] is True and cached["probe"]["gemm_flops_per_s"] == 2e10 and len(probes) == 2


def test_probe_shows_the_rates_before_and_now_and_how_the_profile_is_carried(probes):
    name = _foreign_profile()
    runner.invoke(app, ["probe", "--profile", name])
    res = runner.invoke(app, ["probe", "--profile", name], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "before (2026-11-30T01:00:00Z)" in out and "incontext-test's machine" in out
    gemm = next(line for line in out.splitlines() if "square GEMM" in line)
    assert [c.strip() for c in gemm.split("│")[2:6]] == ["GFLOP/s", "20", "10", "100"]
    assert "predict carries profile incontext-test (made on elsewhere (2 threads)) here with this probe" in out
    assert "GEMM ×5.00" in out and "convolution ×2.00" in out  # 1e11 / 2e10 and 8e10 / 4e10
    # the reference steps widen the interval; they no longer correct the times
    assert "widens its interval by the reference steps' median error here" in out and "corrects" not in out


def test_probe_reports_the_widening_predict_will_apply_with_it(probes):
    from green_estimate.profile_store import resolve_profile
    from green_estimate.transfer import transfer_profile

    name = _foreign_profile()
    doc = json.loads(runner.invoke(app, ["probe", "--profile", name, "--json"]).stdout)
    errs, widen = doc["profile"]["reference_log_errors"], doc["profile"]["log_error"]
    assert len(errs) == 1 and widen == pytest.approx(abs(errs[0]))  # one reference step: its own error
    # predict, with the probe just cached, carries the profile with the very same figures
    carried, _ = transfer_profile(resolve_profile(name, "cpu"))
    assert carried.data["transfer"]["reference_log_errors"] == pytest.approx(errs)
    assert carried.data["transfer"]["log_error"] == pytest.approx(widen)
    out = runner.invoke(app, ["probe", "--cached", "--profile", name], env={"COLUMNS": "250"}).stdout
    assert f"they take ×{math.exp(errs[0]):.2f} the time it predicts for them" in out and f"so ×{math.exp(widen):.2f}." in out


def test_a_profile_made_on_this_cpu_is_not_carried(probes):
    own = incontext_profile(probe=PROBE)
    profiles_dir().mkdir(parents=True, exist_ok=True)
    (profiles_dir() / "own.json").write_text(json.dumps(own))
    doc = json.loads(runner.invoke(app, ["probe", "--profile", "incontext-test", "--json"]).stdout)
    assert doc["profile"]["carried"] is False and doc["profile"]["ratios"] is None
    assert doc["profile"]["probe"]["gemm_flops_per_s"] == PROBE["gemm_flops_per_s"]
    out = runner.invoke(app, ["probe", "--cached", "--profile", "incontext-test"], env={"COLUMNS": "200"}).stdout
    assert "was made on this CPU" in out and "the probe does not carry it" in out and len(probes) == 1
    gemm = next(line for line in out.splitlines() if "square GEMM" in line)
    assert [c.strip() for c in gemm.split("│")[2:5]] == ["GFLOP/s", "10", "100"]  # this CPU, the profile's machine


def test_cached_without_a_probe_says_how_to_measure_one(probes):
    res = runner.invoke(app, ["probe", "--cached"])
    assert res.exit_code != 0 and "green-estimate probe" in res.stderr and not probes
