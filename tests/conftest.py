"""Shared test set-up: never touch the user's real profile or data directories."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("ge-home")
    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(home))
    yield
