"""Full, schema-valid ``green-estimate/prediction@1`` documents for tests (one shared source).

:func:`real_prediction` is a real prediction of a small CNN (counted and priced by the code, the
shipped CPU profile, region DE). :func:`prediction_like` rescales a copy of it to the totals a fake
predictor wants, so a test's fake emits every key the real ``predict`` emits instead of a partial
document.
"""
from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

J_PER_KWH = 3.6e6


@functools.lru_cache(maxsize=1)
def real_prediction() -> dict:
    import torch.nn as nn

    import green_estimate as ge

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    plan = ge.TrainingPlan(batch_size=8, epochs=2, samples=100)
    return ge.predict(model, plan, input_shape=(3, 8, 8), region="DE", name="small-cnn").to_dict()


def prediction_like(*, model: str, energy_j: float, plan: dict, interval: tuple[float, float] = (0.8, 1.5),
                    time_s: float | None = None, co2e_g: float | None = None, profile: dict | None = None,
                    notes: list[str] | None = None) -> dict:
    """The real prediction's document with these totals: ``energy_j`` for the whole run of ``plan``
    (``batch_size``, ``epochs``, ``samples``, ``steps``), the interval as factors of it, per-step and
    per-class figures scaled to match, ``co2e_g`` (None: no grid intensity), ``profile`` keys
    overriding the real profile's, and exactly ``notes``."""
    d = copy.deepcopy(real_prediction())
    steps = plan["steps"]
    time_s = energy_j / 50 if time_s is None else time_s
    lo, hi = interval
    k = (energy_j / steps) / d["per_step"]["energy_j"] if d["per_step"]["energy_j"] else 0.0
    d["model"] = model
    d["plan"].update(plan, samples_per_step=plan["batch_size"] * d["plan"].get("grad_accum", 1) * d["plan"].get("gpus", 1))
    d["profile"].update(profile or {})
    e_step, t_step = energy_j / steps, time_s / steps
    d["per_step"] = {"energy_j": e_step, "energy_j_interval": [lo * e_step, hi * e_step],
                     "time_s": t_step, "time_s_interval": [lo * t_step, hi * t_step]}
    d["total"].update({
        "energy_j": energy_j, "energy_j_interval": [lo * energy_j, hi * energy_j],
        "energy_kwh": energy_j / J_PER_KWH, "energy_kwh_interval": [lo * energy_j / J_PER_KWH, hi * energy_j / J_PER_KWH],
        "time_s": time_s, "time_s_interval": [lo * time_s, hi * time_s], "co2e_g": co2e_g,
        "co2e_g_interval": None if co2e_g is None else [lo * co2e_g, hi * co2e_g]})
    if co2e_g is None:
        d["grid_intensity"] = None
    for row in d["by_class"].values():  # shares stay, energies follow the new step
        row["energy_j_per_step"] *= k
    d["notes"] = list(notes or [])
    return d


def predict_module():
    """The module ``green_estimate.predict`` (the package attribute of that name is the API function)."""
    import importlib

    return importlib.import_module("green_estimate.predict")


def fake_prediction(document: dict) -> SimpleNamespace:
    """What ``predict`` returns, as far as check and plan read it: an object with ``to_dict()``."""
    return SimpleNamespace(to_dict=lambda: document)
