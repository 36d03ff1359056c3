"""What a calibration borrows from the shipped CPU profile for op sizes it ran too few of."""
from __future__ import annotations

import pytest

from green_estimate.calibration.fit import FLOP_CLASSES, PRIOR_FEATURES
from green_estimate.calibration.priors import borrowed_priors
from green_estimate.profile_store import shipped_profiles


def _shipped_cpu():
    return next(p for p in shipped_profiles() if p.device.get("kind") == "cpu")


def _coefficients(profile, feature):
    out = {}
    for cls, entry in profile.data["classes"].items():
        m = entry["time_s"]
        if feature in m["features"]:
            out[cls] = m["params"][m["features"].index(feature)]
    return out


def test_the_shipped_rates_past_the_cache_are_carried_by_the_bandwidth_ratio():
    source = _shipped_cpu()
    have = {cls: c for cls, c in _coefficients(source, PRIOR_FEATURES[0]).items() if cls in FLOP_CLASSES and c > 0}
    assert have, "the shipped CPU profile prices bytes past the cache in some GEMM-like class"
    here = {**source.probe, "bandwidth_bytes_per_s": source.probe["bandwidth_bytes_per_s"] / 2}  # half its bandwidth
    priors, about = borrowed_priors(source, here)
    assert about == {"from": source.name, "bandwidth_ratio": pytest.approx(2.0)}
    assert set(priors) == set(have)
    for cls, c in have.items():
        assert priors[cls] == {PRIOR_FEATURES[0]: pytest.approx(2.0 * c)}


def test_nothing_is_borrowed_without_a_probe_or_at_another_precision():
    source = _shipped_cpu()
    assert borrowed_priors(source, None) == ({}, {})
    assert borrowed_priors(source, dict(source.probe), precision="bf16") == ({}, {})
    assert borrowed_priors(source.replaced(probe=None), dict(source.probe)) == ({}, {})
    assert borrowed_priors(None, dict(source.probe)) == ({}, {})
