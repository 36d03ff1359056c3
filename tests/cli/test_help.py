"""Every command has --help with an example and is documented in docs/cli.md."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from green_estimate.cli.app import app

COMMANDS = ["count", "meters", "calibrate", "predict", "profiles", "probe", "validate", "check", "plan"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_all_commands_are_registered():
    names = sorted(c.name for c in app.registered_commands)
    assert names == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_an_example(command):
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Example:" in res.stdout
    assert f"green-estimate {command}" in res.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_documented(command):
    assert f"## `green-estimate {command}" in DOCS.read_text()


def test_calibrate_help_counts_the_suites_networks():
    """The --quick help says how many networks each suite draws; the shipped suite file decides."""
    from green_estimate.calibration.cases import load_suite

    res = CliRunner().invoke(app, ["calibrate", "--help"], env={"COLUMNS": "400"})
    quick, full = len(load_suite(quick=True).cases), len(load_suite().cases)
    assert f"{quick} networks instead of {full}" in " ".join(res.stdout.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_help_prints_each_paragraph_on_one_line_when_the_terminal_is_wide(command):
    """A docstring's source line breaks do not reach the help: a paragraph is wrapped by the terminal alone."""
    import inspect

    fn = next(c.callback for c in app.registered_commands if c.name == command)
    res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "1000"})
    lines = [" ".join(line.split()) for line in res.stdout.splitlines()]
    for paragraph in inspect.cleandoc(fn.__doc__).split("\n\n"):
        if not paragraph.startswith("Example:"):
            assert " ".join(paragraph.split()) in lines, paragraph
    examples = [line for line in inspect.cleandoc(fn.__doc__).splitlines() if line.startswith("Example:")]
    assert examples and all(line in lines for line in examples)   # each example on its own line
