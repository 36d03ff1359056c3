"""The runs model prices like its prior at the prior's values, and by its formula elsewhere."""
from __future__ import annotations

import pytest

from green_estimate.runs.model import StepBasis, step_cost

STUDY_MODEL = "calibration/runs/yarally_cain2023_models.py"


def test_step_cost_by_hand():
    b = StepBasis(time_s={"conv": 1e-3, "linear": 2e-3, "other": 3e-3}, dyn_j={"conv": 0.1, "linear": 0.2, "other": 0.05},
                  overhead_s=1e-4, dispatches=100, input_bytes=1_000_000, spatial_ops=10)
    p = {"scale_conv": 2.0, "scale_linear": 0.5, "scale_other": 1.0, "step_s": 5e-4, "dispatch_s": 1e-5,
         "spatial_op_s": 2e-5, "input_s_per_byte": 1e-10, "idle_w": 10.0, "active_scale": 1.5, "wait_w": 20.0}
    e, t, host = step_cost(b, p)
    t_ops = 2 * 1e-3 + 0.5 * 2e-3 + 3e-3                       # 6e-3
    t_host = 1e-4 + 5e-4 + 100 * 1e-5 + 10 * 2e-5 + 1e-10 * 1e6  # 1.9e-3
    assert t == pytest.approx(t_ops + t_host)
    assert host["input_copy"] == pytest.approx(1e-4)
    dyn = 2 * 0.1 + 0.5 * 0.2 + 0.05                            # 0.35
    assert e == pytest.approx(10.0 * (t_ops + t_host) + 1.5 * dyn + 20.0 * t_host)


def test_at_the_prior_values_a_datasheet_prior_prices_unchanged():
    from green_estimate.calibration.from_runs import prior_from_profile
    from green_estimate.counting.counter import count_model
    from green_estimate.pricing import price_step
    from green_estimate.profile import Profile
    from green_estimate.profile_store import resolve_profile

    prior = resolve_profile("datasheet:gtx-1080")
    _, pri = prior_from_profile(prior)
    data = dict(prior.data, runs_model={"form": "runs@1", "params": pri.mean, "prior": {"idle0_w": pri.idle0_w}})
    updated = Profile.from_dict(data)
    report = count_model(STUDY_MODEL, batch_size=64, model_kwargs={"family": "SimpleCNN"})
    before, after = price_step(report, prior), price_step(report, updated)
    assert set(after) == set(before)  # no host class: every host term is zero at the prior
    for cls in before:
        assert after[cls].energy_j == pytest.approx(before[cls].energy_j, rel=1e-12)
        assert after[cls].time_s == pytest.approx(before[cls].time_s, rel=1e-12)
