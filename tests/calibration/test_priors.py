"""What a calibration borrows from the shipped CPU profile for op sizes it ran too few of."""
from __future__ import annotations

import pytest

from green_estimate.calibration.fit import FLOP_CLASSES, PRIOR_FEATURES
from green_estimate.calibration.priors import borrowed_priors
from green_estimate.profile_store import shipped_cpu_profile


def _coefficients(profile, feature):
    out = {}
    for cls, entry in profile.data["classes"].items():
        m = entry["time_s"]
        if feature in m["features"]:
            out[cls] = m["params"][m["features"].index(feature)]
    return out


def test_the_shipped_rates_past_the_cache_are_taken_as_they_are_on_the_cpu_that_made_them():
    source = shipped_cpu_profile()
    have = {cls: c for cls, c in _coefficients(source, PRIOR_FEATURES[0]).items() if cls in FLOP_CLASSES and c > 0}
    assert have, "the shipped CPU profile prices bytes past the cache in some GEMM-like class"
    # the same CPU, its 32 MiB copy read twice as fast (as it does at a cache's edge): no rescaling
    here = {**source.probe, "bandwidth_bytes_per_s": 2 * source.probe["bandwidth_bytes_per_s"]}
    priors, about = borrowed_priors(source, here)
    assert about == {"from": source.name, "ratio": 1.0, "ratio_basis": "same CPU"}
    assert priors == {cls: {PRIOR_FEATURES[0]: c} for cls, c in have.items()}


def test_on_another_cpu_they_are_carried_by_the_memory_copy_or_else_the_32_mib_copy():
    source = shipped_cpu_profile()
    have = {cls: c for cls, c in _coefficients(source, PRIOR_FEATURES[0]).items() if cls in FLOP_CLASSES and c > 0}
    other = {**source.probe["fingerprint"], "cpu_model": "Intel Xeon", "cpu_id": "6/143/8"}
    # the shipped probe has no copy past the cache: the 32 MiB copy's ratio (here half the bandwidth)
    here = {**source.probe, "fingerprint": other, "bandwidth_bytes_per_s": source.probe["bandwidth_bytes_per_s"] / 2,
            "dram_bandwidth_bytes_per_s": 1e10}
    priors, about = borrowed_priors(source, here)
    assert about == {"from": source.name, "ratio": pytest.approx(2.0), "ratio_basis": "32 MiB copy"}
    assert priors == {cls: {PRIOR_FEATURES[0]: pytest.approx(2.0 * c)} for cls, c in have.items()}
    # where both probes copied past the cache, that copy's ratio
    made = source.replaced(probe={**source.probe, "dram_bandwidth_bytes_per_s": 3e10})
    priors, about = borrowed_priors(made, here)
    assert about["ratio"] == pytest.approx(3.0) and about["ratio_basis"] == "memory copy"
    assert priors == {cls: {PRIOR_FEATURES[0]: pytest.approx(3.0 * c)} for cls, c in have.items()}


def test_nothing_is_borrowed_without_a_probe_or_at_another_precision():
    source = shipped_cpu_profile()
    assert borrowed_priors(source, None) == ({}, {})
    assert borrowed_priors(source, dict(source.probe), precision="bf16") == ({}, {})
    assert borrowed_priors(source.replaced(probe=None), dict(source.probe)) == ({}, {})
    assert borrowed_priors(None, dict(source.probe)) == ({}, {})
