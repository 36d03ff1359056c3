"""Shared test set-up: never touch the user's real profile or data directories."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ge-home")
    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(home))
    yield


_PROBES: dict[str, dict] = {}


@pytest.fixture(autouse=True)
def _one_device_probe_per_cpu(monkeypatch):
    """On a CPU other than the one that made the shipped profile, every prediction with it probes this
    machine for real (about 12 s), and every test has a fresh home, so a fresh probe cache. The first
    real probe of each CPU fingerprint in the session serves the rest (a test that replaces
    ``run_probe`` itself still does)."""
    import copy
    import functools
    import json

    import green_estimate.device_probe as device_probe
    from green_estimate.fingerprint import cpu_fingerprint

    real = device_probe.run_probe

    @functools.wraps(real)
    def once_per_cpu(*args, **kwargs):
        key = json.dumps(cpu_fingerprint(), sort_keys=True)
        if key not in _PROBES:
            _PROBES[key] = real(*args, **kwargs)
        return copy.deepcopy(_PROBES[key])

    monkeypatch.setattr(device_probe, "run_probe", once_per_cpu)


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
