"""The per-class regression recovers known costs and reports honest cross-validated errors."""
from __future__ import annotations

import random

import pytest

from green_estimate.calibration.fit import fit_class, fit_profile_classes, repeat_noise


def synthetic(cls, n, const_s, s_per_flop, s_per_byte, noise=0.0, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ops = [{"op": "aten.x", "cls": cls, "flops": rng.randint(10**3, 10**9), "bytes": rng.randint(10**3, 10**8),
                "outputs": 1} for _ in range(rng.randint(1, 3))]
        t = sum(const_s + s_per_flop * o["flops"] + s_per_byte * o["bytes"] for o in ops)
        t *= 1 + rng.gauss(0, noise)
        out.append({"cls": cls, "ops": ops, "time_s": t, "energy_j": 30.0 * t,
                    "time_s_repeats": [t, t * 1.01, t * 0.99], "time_spread_rel": 0.02})
    return out


def test_fit_recovers_exact_linear_costs():
    # 20 µs per op, 50 GFLOP/s, 10 GB/s
    samples = synthetic("conv", 40, 20e-6, 1 / 50e9, 1 / 10e9)
    fit = fit_class("conv", samples)
    m = fit.models["time_s"]
    params = dict(zip(m["features"], m["params"]))
    assert params["const"] == pytest.approx(20e-6, rel=1e-6)
    assert params["flops"] == pytest.approx(2e-11, rel=1e-6)
    assert params["bytes"] == pytest.approx(1e-10, rel=1e-6)
    assert fit.cv["time_s"]["median_ape"] < 1e-6
    assert fit.cv["time_s"]["within_10pct"] == 1.0
    # energy = 30 W × time, so its coefficients are 30× the time ones
    e = dict(zip(fit.models["energy_j"]["features"], fit.models["energy_j"]["params"]))
    assert e["flops"] == pytest.approx(30 * 2e-11, rel=1e-6)


def test_relative_noise_shows_in_residual_spread_and_cv():
    samples = synthetic("linear", 200, 10e-6, 1 / 80e9, 1 / 20e9, noise=0.05, seed=3)
    fit = fit_class("linear", samples)
    # the weighted residual spread is the relative noise, 5%
    assert fit.models["time_s"]["resid_rel_sd"] == pytest.approx(0.05, rel=0.25)
    # median |N(0, 5%)| ≈ 0.674 × 5% = 3.4%
    assert fit.cv["time_s"]["median_ape"] == pytest.approx(0.0337, rel=0.35)
    assert len(fit.models["time_s"]["cov"]) == len(fit.models["time_s"]["features"])


def test_too_few_samples_gives_no_model_and_other_classes_are_ignored():
    samples = synthetic("relu", 2, 5e-6, 1e-11, 1e-10) + synthetic("pool", 10, 5e-6, 1e-11, 1e-10)
    classes = fit_profile_classes(samples)
    assert "relu" not in classes and "pool" in classes
    assert classes["pool"]["n_samples"] == 10


def test_repeat_noise():
    samples = [{"time_s_repeats": [1.0, 1.1, 0.9], "time_spread_rel": 0.2}, {"time_s_repeats": [2.0, 2.0, 2.0], "time_spread_rel": 0.0}]
    noise = repeat_noise(samples)
    assert noise["median_spread_rel"] == pytest.approx(0.1)
    # MADs: median(|0, .1, .1|)/1 = 0.1 and 0 → median 0.05
    assert noise["median_abs_dev_rel"] == pytest.approx(0.05)


def test_harness_intercept_is_the_backward_call_and_is_removed_from_cases():
    from green_estimate.calibration.fit import _without_harness, fit_harness

    # 40 µs per backward() call + 6 µs per tiny ReLU forward+backward
    chain = [{"kind": "chain", "params": {"depth": d}, "time_s": 40e-6 + 6e-6 * d, "energy_j": 2 * (40e-6 + 6e-6 * d)}
             for d in (1, 2, 4, 8, 16)]
    h = fit_harness(chain)
    assert h["backward_call_s"] == pytest.approx(40e-6, rel=1e-6)
    assert h["backward_call_j"] == pytest.approx(80e-6, rel=1e-6)
    cases = [{"kind": "conv2d", "backward": True, "time_s": 1e-3, "energy_j": 2e-3},
             {"kind": "binary", "backward": False, "time_s": 1e-3, "energy_j": 2e-3},
             {"kind": "relu", "backward": True, "time_s": 41e-6, "energy_j": 82e-6}]
    adj = _without_harness(cases, h)
    assert adj[0]["time_s"] == pytest.approx(1e-3 - 40e-6)
    assert adj[1]["time_s"] == 1e-3          # forward-only: no backward() call to remove
    assert adj[2]["time_s"] == pytest.approx(4.1e-6)  # floored at a tenth of the measurement
