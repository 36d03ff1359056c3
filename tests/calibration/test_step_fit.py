"""Stage two: whole-step samples recover in-context class scales and the per-step constant."""
from __future__ import annotations

import random

import pytest

from green_estimate.calibration.step_fit import fit_step_model
from green_estimate.predict import TrainingPlan, predict_report
from green_estimate.profile import Profile


def const_model(seconds_per_op):
    return {"form": "linear", "features": ["const"], "params": [seconds_per_op], "cov": [[0.0]],
            "resid_rel_sd": 0.0, "df_resid": 10}


# stage one: a conv op costs 100 µs, a linear op 20 µs, an elementwise op 5 µs (time and energy alike)
CLASSES = {c: {"time_s": const_model(t), "energy_j": const_model(10 * t)}
           for c, t in (("conv", 100e-6), ("linear", 20e-6), ("elementwise", 5e-6))}


def step_sample(n_conv, n_lin, n_ew):
    ops = ([{"op": "aten.convolution", "cls": "conv", "flops": 1, "bytes": 1}] * n_conv
           + [{"op": "aten.mm", "cls": "linear", "flops": 1, "bytes": 1}] * n_lin
           + [{"op": "aten.add_", "cls": "elementwise", "flops": 1, "bytes": 1}] * n_ew)
    # in context: conv ×1.5, linear ×2, elementwise ×1 (kept), plus 300 µs per step
    t = 300e-6 + 1.5 * 100e-6 * n_conv + 2.0 * 20e-6 * n_lin + 5e-6 * n_ew
    return {"kind": "step", "cls": "step", "ops": ops, "time_s": t, "energy_j": 10 * t}


def samples():
    rng = random.Random(1)
    return [step_sample(rng.randint(0, 8), rng.randint(1, 10), rng.randint(10, 60)) for _ in range(20)]


def test_scales_and_constant_are_recovered():
    sm = fit_step_model(samples(), CLASSES)
    assert sm["n_samples"] == 20
    assert sm["classes"]["time_s"]["conv"] == pytest.approx(1.5, rel=1e-6)
    assert sm["classes"]["time_s"]["linear"] == pytest.approx(2.0, rel=1e-6)
    assert sm["const"]["time_s"] == pytest.approx(300e-6, rel=1e-6)
    assert sm["const"]["energy_j"] == pytest.approx(3e-3, rel=1e-6)
    assert sm["cv"]["time_s"]["median_ape"] < 1e-6


def test_prediction_applies_the_step_model():
    import torch
    import torch.nn as nn

    from green_estimate.counting.counter import count_step

    sm = fit_step_model(samples(), CLASSES)
    prof = Profile.from_dict({"schema": "green-estimate/profile@1", "name": "t", "device": {"kind": "cpu"},
                              "provenance": "estimated", "default_class": "elementwise", "classes": CLASSES,
                              "step_model": sm})
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)).to("meta")
    report = count_step(model, (torch.empty(2, 1, 4, 4, device="meta"),), optimizer="sgd")
    n = {c: sum(1 for o in report.ops if o.cls == c) for c in ("conv", "linear")}
    n_rest = len(report.ops) - n["conv"] - n["linear"]  # priced as elementwise, scale 1
    expected = 300e-6 + 1.5 * 100e-6 * n["conv"] + 2.0 * 20e-6 * n["linear"] + 5e-6 * n_rest
    pred = predict_report(report, plan=TrainingPlan(2, steps_given=1), profile=prof)
    assert pred.time_s == pytest.approx(expected, rel=1e-6)
    assert pred.classes["overhead"].time_s == pytest.approx(300e-6, rel=1e-6)


def test_too_few_step_samples():
    assert fit_step_model(samples()[:4], CLASSES) is None
