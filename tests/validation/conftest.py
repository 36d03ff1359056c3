"""Fakes for validation tests: a ticking meter and a predictor proportional to parameter count.

Both implement the real interfaces (the Meter protocol, the predict_fn signature and the
``green-estimate/prediction@1`` dict — the shared real prediction of tests/predictions.py, scaled to
the fake's totals), so they are wired in exactly like production ones.
"""
from __future__ import annotations

import pytest
import torch

from green_estimate.meters.base import Reading
from tests.predictions import prediction_like

TICK_J = 2.0  # every read of TickMeter adds this much energy ...
TICK_S = 0.5  # ... and this much time, so one measured window is exactly one tick
J_PER_PARAM_STEP = 1e-6  # FakePredictor: energy per step = this × parameters
S_PER_PARAM_STEP = 1e-7
BAND = 0.2  # FakePredictor's interval: ±20 %


class TickMeter:
    """A meter whose every read advances by one tick; records each read in a shared event log."""

    name = "tick"
    provenance = "estimated"
    device = "test device"
    resolution_s = 1e-3

    def __init__(self, events: list | None = None) -> None:
        self.reads = 0
        self.events = events if events is not None else []

    def read(self) -> Reading:
        self.reads += 1
        self.events.append("read")
        return Reading(energy_j=TICK_J * self.reads, time_s=TICK_S * self.reads)

    def close(self) -> None:
        pass


class FakePredictor:
    """``predict_fn`` whose per-step energy and time are proportional to the model's parameters."""

    def __init__(self, events: list | None = None, interrupt_on_call: int | None = None) -> None:
        self.calls: list[dict] = []
        self.events = events if events is not None else []
        self.interrupt_on_call = interrupt_on_call

    def __call__(self, build_model, *, input_shape, batch_size, steps, optimizer="adam") -> dict:
        if self.interrupt_on_call is not None and len(self.calls) + 1 == self.interrupt_on_call:
            raise KeyboardInterrupt
        with torch.device("meta"):
            model = build_model()
        n = sum(p.numel() for p in model.parameters())
        conv = sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        self.calls.append({"params": n, "input_shape": input_shape, "batch_size": batch_size, "steps": steps,
                           "optimizer": optimizer})
        self.events.append("predict")
        e, t = J_PER_PARAM_STEP * n, S_PER_PARAM_STEP * n
        # the shared full prediction document (tests/predictions.py) at these totals
        document = prediction_like(model="fake", energy_j=e * steps, time_s=t * steps, interval=(1 - BAND, 1 + BAND),
                                   plan={"batch_size": batch_size, "epochs": 1, "samples": None, "steps": steps},
                                   profile={"name": "fake", "device": "test", "meter": "tick", "provenance": "estimated"})
        document["by_class"] = {
            "conv": {**document["by_class"]["conv"], "energy_j_per_step": J_PER_PARAM_STEP * conv, "share": conv / n},
            "linear": {**document["by_class"]["linear"], "energy_j_per_step": J_PER_PARAM_STEP * (n - conv),
                       "share": 1 - conv / n}}
        return document


@pytest.fixture
def events() -> list:
    return []


@pytest.fixture
def tick_meter(events) -> TickMeter:
    return TickMeter(events)


@pytest.fixture
def fake_predictor(events) -> FakePredictor:
    return FakePredictor(events)


@pytest.fixture(scope="session")
def small_digits():
    """120 training and 60 test digits: enough to train in milliseconds."""
    from green_estimate.validation.data import load_dataset

    return load_dataset("digits", train_samples=120, test_samples=60)
