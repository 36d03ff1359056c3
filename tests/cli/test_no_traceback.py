"""No command prints a traceback, whatever it is given: every bad option and bad file is one line.

Runs ``green_estimate.cli.app.main`` in-process (the console script), so the top-level guard and
the option-parser error style are what is tested.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_estimate.cli.app import main

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BAD_FILES = ["shape_mismatch.py", "syntax_error.py", "missing_import.py", "build_raises.py", "empty.py", "a_directory",
             "no_input_shape.py", "integer_output.py", "not_a_module.py", "exits_at_import.py",
             "bad_example_input.py", "bad_input_dtype.py", "does_not_exist.py"]
GOOD = str(CORPUS / "dict_output.py")

BAD_OPTIONS = [
    ["count"], ["count", GOOD, "--batch-size", "x"], ["count", GOOD, "--batch-size", "0"], ["count", GOOD, "--bogus"],
    ["count", GOOD, "--optimizer", "lion"], ["count", GOOD, "--input-shape", "3,x"], ["count", GOOD, "--input-shape", "0"],
    ["count", GOOD, "--input-dtype", "words"], ["count", GOOD, "--vocab-size", "0"], ["count", "no.such.module"],
    ["predict"], ["predict", GOOD, "--epochs", "0"], ["predict", GOOD, "--samples", "-5"], ["predict", GOOD, "--confidence", "2"],
    ["predict", GOOD, "--profile", "no-such-profile"], ["predict", GOOD, "--region", "ATLANTIS"],
    ["predict", GOOD, "--grid-intensity", "abc"], ["predict", GOOD, "--steps", "0"],
    ["check", GOOD, "--steps", "1"], ["check", GOOD, "--steps", "1", "--budget", "5 bananas"], ["check", GOOD, "--steps", "1", "--budget", "1kWh", "--format", "xml"],
    ["check", GOOD, "--steps", "1", "--co2-budget", "1kg"], ["check", GOOD, "--steps", "1", "--budget", "1kWh", "--confidence", "5"],
    ["plan"], ["plan", "missing-sweep.toml"], ["plan", "sweep.txt"],
    ["profiles", "--bogus"], ["meters", "--bogus"],
    ["calibrate"], ["calibrate", "--gpu", "0", "--cpu"], ["calibrate", "--cpu", "--meter", "nope"],
    ["validate", "--strategies", "nope"], ["validate", "--families", "nope"], ["validate", "--gpu", "0", "--cpu"],
    ["validate", "--trials", "-1"], ["validate", "--data", "imagenet"],
    ["frobnicate"], ["--bogus"],
    ["count", GOOD, "--precision", "fp8"], ["count", GOOD, "--target", "tpu"], ["count", GOOD, "--attention", "sparse"],
    ["predict", GOOD, "--precision", "bf16"], ["predict", GOOD, "--precision", "fp32", "--profile", "datasheet:h100-sxm:bf16"],
    ["calibrate", "--cpu", "--precision", "tf32"], ["calibrate", "--cpu", "--precision", "int8"],
    ["calibrate", "--cpu", "--max-minutes", "0"], ["calibrate", "--from-runs", "r.csv", "--max-minutes", "5"],
]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def assert_one_line_error(code: int, out: str, err: str, *, codes=(1, 2), user_lines: int = 0) -> None:
    assert code in codes, (code, out, err)
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 + user_lines, err
    assert lines[-1].startswith(("Error: ", "internal error: ")), err
    assert not lines[-1].startswith("internal error"), f"a bad input reached the guard: {err}"


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=" ".join)
def test_bad_options_are_one_error_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no pyproject.toml defaults, and files written here are thrown away
    (tmp_path / "sweep.txt").write_text("model = 'm.py'\n")
    code, out, err = run(argv, capsys)
    assert_one_line_error(code, out, err, codes=(2,) if argv[0] == "check" else (1, 2))


@pytest.mark.parametrize("command", ["count", "predict", "check"])
@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_model_files_are_one_error_line(command, name, capsys):
    argv = [command, str(CORPUS / name)] + (["--budget", "1kWh", "--steps", "1"] if command == "check" else [])
    code, out, err = run(argv, capsys)
    # argparse in the user's own file prints its usage and message before exiting: two lines that are theirs
    assert_one_line_error(code, out, err, codes=(2,) if command == "check" else (1,),
                          user_lines=2 if name == "exits_at_import.py" else 0)


def test_parser_errors_have_the_style_of_every_other_error(capsys):
    code, _, err = run(["count", GOOD, "--batch-size", "x"], capsys)
    assert code == 2
    assert err.startswith("Error: Invalid value for '--batch-size'") and "(see `green-estimate count --help`)" in err


@pytest.mark.parametrize(("edit", "says"), [
    ({"device": "cpu"}, "device must be an object, not str 'cpu'"),
    ({"classes": {"linear": "fast"}}, "classes.linear must be an object with time_s and energy_j, not str"),
    ({"name": 7}, "name must be a string, not int"),
])
def test_hand_edited_profile_is_named_in_one_line(edit, says, capsys, tmp_path):
    from green_estimate.profile_store import _shipped_paths

    data = json.loads(_shipped_paths()[0].read_text())
    data["op_models"] = {"added": "by a newer green-estimate"}  # unknown keys are tolerated
    data.update(edit)
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(data))
    for argv, codes in ((["predict", GOOD, "--profile", str(bad)], (1,)), (["check", GOOD, "--steps", "1", "--budget", "1kWh", "--profile", str(bad)], (2,))):
        code, out, err = run(argv, capsys)
        assert_one_line_error(code, out, err, codes=codes)
        assert f"profile {bad}: {says}" in err


def test_unexpected_exception_is_one_internal_error_line_and_debug_shows_it(capsys, monkeypatch):
    import green_estimate.counting.counter as counter

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(counter, "count_workload", boom)
    code, out, err = run(["count", GOOD], capsys)
    assert code == 1
    assert err == "internal error: RuntimeError: boom second line; rerun with --debug for the traceback\n"
    code, _, err = run(["check", GOOD, "--steps", "1", "--budget", "1kWh"], capsys)
    assert code == 2 and err.startswith("internal error: RuntimeError: boom")  # check's 1 means "over budget"
    with pytest.raises(RuntimeError, match="boom"):
        main(["count", GOOD, "--debug"])
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "count", GOOD])


def test_check_exit_codes_agree_with_its_help(capsys):
    code, out, _ = run(["check", "--help"], capsys)
    assert code == 0 and "1 when it does not, 2 on any error" in " ".join(out.split())
    assert run(["check", GOOD, "--steps", "1", "--budget", "1GWh"], capsys)[0] == 0
    code, _, err = run(["check", GOOD, "--steps", "1", "--budget", "1e-9J"], capsys)
    assert code == 1 and err.startswith("Over budget")
    assert run(["check", str(CORPUS / "empty.py"), "--budget", "1GWh", "--steps", "1"], capsys)[0] == 2  # will not load: 2, not 1
