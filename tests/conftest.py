"""Shared test set-up: never touch the user's real profile or data directories."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ge-home")
    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(home))
    yield


@pytest.fixture(scope="session")
def prediction_document() -> dict:
    """A full ``green-estimate/prediction@1`` document from a real prediction of a small CNN.

    Counted and priced by the real code (shipped CPU profile, a carbon region so CO2e is filled in),
    so it is schema-valid by construction of the code, not by hand; tests that need a prediction
    document take this instead of writing a partial one.
    """
    import torch.nn as nn

    import green_estimate as ge

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    plan = ge.TrainingPlan(batch_size=8, epochs=2, samples=100)
    return ge.predict(model, plan, input_shape=(3, 8, 8), region="DE", name="small-cnn").to_dict()
