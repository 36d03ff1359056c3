"""Shared test set-up: never touch the user's real profile or data directories."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ge-home")
    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(home))
    yield


@pytest.fixture()
def prediction_document() -> dict:
    """A full ``green-estimate/prediction@1`` document from a real prediction of a small CNN.

    Counted and priced by the real code (shipped CPU profile, a carbon region so CO2e is filled in),
    so it is schema-valid by construction of the code, not by hand; tests that need a prediction
    document take this instead of writing a partial one.
    """
    import copy

    from tests.predictions import real_prediction

    return copy.deepcopy(real_prediction())
