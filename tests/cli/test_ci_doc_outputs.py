"""The outputs docs/ci.md shows for `check` in examples/ci are what `check` prints there now.

They are priced with a datasheet profile, so they are the same on every machine; a pricing change
that moves them fails here until the page is rerun (docs/ci.md's examples went stale once).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ci.md"
EXAMPLE = ROOT / "examples" / "ci"


def shown_output(command: str) -> list[str]:
    """The lines docs/ci.md shows after ``$ COMMAND`` in a console block, up to the next ``$`` or the
    block's end."""
    lines = PAGE.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"$ {command}") + 1
    out = []
    for line in lines[start:]:
        if line.startswith(("$ ", "```")):
            break
        out.append(line.rstrip())
    return out


def printed(args: list[str], tmp_path: Path) -> tuple[list[str], int]:
    env = {**os.environ, "GREEN_ESTIMATE_HOME": str(tmp_path), "COLUMNS": "100"}
    res = subprocess.run([sys.executable, "-m", "green_estimate", *args], cwd=EXAMPLE, env=env,
                         capture_output=True, text=True, timeout=120)
    return [line.rstrip() for line in (res.stdout + res.stderr).rstrip("\n").split("\n")], res.returncode


@pytest.mark.parametrize("command, exit_code", [
    ("green-estimate check --epochs 200 --format github", 1),
    ("green-estimate check --format markdown --region DE --co2-budget 1g", 0),
])
def test_the_page_shows_what_check_prints(command: str, exit_code: int, tmp_path: Path):
    got, rc = printed(command.split()[1:], tmp_path)
    assert rc == exit_code
    assert got == shown_output(command)
