"""`profiles` shows every name whole, as --profile takes it, however narrow the terminal."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from green_estimate.cli.app import app
from green_estimate.profile_store import _shipped_paths, profiles_dir

runner = CliRunner()


def test_long_names_are_shown_whole_at_80_columns_with_how_to_use_them():
    data = json.loads(_shipped_paths()[0].read_text())
    long_name = "workstation-" + "x" * 70 + "-rtx4090-cuda12"
    data["name"] = long_name
    profiles_dir().mkdir(parents=True, exist_ok=True)
    (profiles_dir() / "long.json").write_text(json.dumps(data))
    res = runner.invoke(app, ["profiles"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert long_name in res.stdout
    assert "datasheet:h100-sxm" in res.stdout  # datasheet rows say the prefix --profile needs
    assert "Use one with --profile NAME" in res.stdout
