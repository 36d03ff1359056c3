"""The step model, per-class power and leave-one-family-out intervals, on synthetic networks."""
from __future__ import annotations

import random

import numpy as np
import pytest

from green_estimate.calibration.calibrator import fit_profile
from green_estimate.calibration.step_fit import STEP_FEATURES, fit_power, fit_step, quantile


def test_quantile_is_the_conservative_order_statistic():
    errs = [0.5, 0.1, 0.3, 0.2, 0.4]
    assert quantile(errs, 0.5) == 0.3    # ⌈0.5·6⌉ = 3rd smallest
    assert quantile(errs, 0.9) == 0.5    # ⌈0.9·6⌉ = 6 > 5: the largest
    assert quantile([], 0.9) == float("inf")


def test_fit_step_recovers_scales_and_ties_an_absent_region():
    rng = np.random.default_rng(0)
    n = 30
    X = np.zeros((n, len(STEP_FEATURES)))
    X[:, 0] = rng.uniform(1e-3, 5e-2, n)           # op time
    X[:, 3] = np.where(np.arange(n) % 3 == 0, rng.uniform(1e-3, 1e-2, n), 0.0)  # attention on a third
    X[:, 4] = 1.0                                   # const
    X[:, 5] = rng.integers(50, 500, n)              # dispatches
    X[:, 6] = rng.integers(2, 40, n)                # parameter tensors
    y = 1.2 * X[:, 0] + 2.5 * X[:, 3] + 1e-4 + 2e-6 * X[:, 5] + 1e-5 * X[:, 6]
    params, _ = fit_step(X, y)
    assert params[0] == pytest.approx(1.2, rel=1e-6) and params[3] == pytest.approx(2.5, rel=1e-6)
    assert params[1] == params[2] == params[0]      # no network had an RNN: tied to the op scale
    assert params[4:] == pytest.approx([1e-4, 2e-6, 1e-5], rel=1e-5)


def test_fit_power_recovers_each_class_power():
    rng = random.Random(2)
    scaled, times, samples = [], [], []
    for _ in range(20):
        c = {"conv": rng.uniform(1e-3, 1e-2), "linear": rng.uniform(1e-3, 1e-2), "relu": rng.uniform(1e-3, 1e-2)}
        t = sum(c.values()) + rng.uniform(1e-4, 1e-3)
        e = 30 * c["conv"] + 20 * c["linear"] + 12 * c["relu"] + 10 * (t - sum(c.values()))
        scaled.append(c), times.append(t), samples.append({"energy_j": e})
    p = fit_power(samples, scaled, times)
    assert p["classes"] == pytest.approx({"conv": 30, "linear": 20, "relu": 12}, rel=1e-6)
    assert p["rest_w"] == pytest.approx(10, rel=1e-6)


def synthetic_samples(n: int = 24) -> list[dict]:
    """Networks whose op times follow exact linear costs and whose step is 1.1 × ops + 200 µs."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        family = ("cnn", "mlp", "resnet")[i % 3]
        ops = []
        for _ in range(rng.randint(3, 8)):
            f, b = rng.randint(10**5, 10**8), rng.randint(10**4, 10**6)
            ops.append(["aten.mm", "linear", "forward", f, b, 1, 128, 64, 256, 0, "", 5e-6 + 1e-11 * f])
            ops.append(["aten.add", "elementwise", "forward", 0, b, 1, 0, 0, 0, 0, "", 2e-6 + 1e-10 * b])
        op_time = sum(r[-1] for r in ops)
        t = 1.1 * op_time + 2e-4
        out.append({"type": "sample", "kind": "network", "params": {"family": family, "seed": i}, "ops": ops,
                    "structure": {"param_tensors": 2 + i % 5, "ignored_ops": 10}, "time_s": t, "energy_j": 15.0 * t,
                    "time_s_repeats": [t, t], "time_spread_rel": 0.0})
    return out


def test_a_profile_fitted_on_exact_networks_predicts_left_out_families_exactly():
    prof = fit_profile(synthetic_samples(), folds=3)
    step = prof["step_model"]
    assert step["time_s"]["params"][0] == pytest.approx(1.1, rel=1e-4)
    assert step["time_s"]["params"][4] == pytest.approx(2e-4, rel=1e-3)
    iv = step["interval"]
    assert iv["families"] == ["cnn", "mlp", "resnet"] and iv["n"] == 24
    assert max(iv["time_s"]["abs_log_err"]) < 1e-3 and max(iv["energy_j"]["abs_log_err"]) < 1e-3
    assert prof["classes"]["linear"]["power_w"] == pytest.approx(15.0, rel=1e-4)
