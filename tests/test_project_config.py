"""[tool.green-estimate]: found upward from the working directory, checked key by key, merged under the CLI."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from green_estimate.errors import BudgetError, ConfigError
from green_estimate.check import check_request
from green_estimate.project_config import (
    ProjectConfig,
    find_pyproject,
    load_project_config,
    model_relative_to,
)

SECTION = """
[tool.green-estimate]
model = "model.py"
budget = "2kWh"
epochs = 25
samples = 60000
batch-size = 512
input-shape = [1, 28, 28]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def no_options(**given):
    names = ("model", "budget", "co2_budget", "conservative", "batch_size", "epochs", "samples", "steps",
             "optimizer", "input_shape", "profile", "confidence", "grid_intensity", "region")
    return {name: given.get(name) for name in names}


def test_nearest_pyproject_with_the_section_wins(tmp_path):
    project = write(tmp_path / "proj" / "pyproject.toml", SECTION)
    inner = write(tmp_path / "proj" / "sub" / "pyproject.toml", "[project]\nname = 'sub'\n")
    deep = tmp_path / "proj" / "sub" / "deeper"
    deep.mkdir()
    assert find_pyproject(deep, stop=tmp_path) == (project, inner)
    assert find_pyproject(tmp_path, stop=tmp_path) == (None, None)


def test_values_are_read_in_kebab_case(tmp_path):
    path = write(tmp_path / "pyproject.toml", SECTION + 'grid_intensity = 350\nconservative = true\n')
    config = load_project_config(tmp_path, stop=tmp_path)
    assert config.path == path
    assert config.values["batch-size"] == 512 and config.values["grid-intensity"] == 350
    assert config.values["conservative"] is True


def test_unknown_key_names_it_and_suggests(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.green-estimate]\nbudjet = "2kWh"\n')
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path, stop=tmp_path)
    message = str(info.value)
    assert "'budjet'" in message and "did you mean 'budget'?" in message
    assert "known keys: model, budget" in message and str(tmp_path) in message


@pytest.mark.parametrize(
    ("line", "says"),
    [('epochs = "ten"', "a positive integer"), ("samples = 0", "a positive integer"),
     ("input-shape = '3,32,32'", "[3, 32, 32]"), ("confidence = 1.5", "between 0 and 1"),
     ("conservative = 'yes'", "true or false"), ("budget = 2", "as a string")],
)
def test_bad_values_are_config_errors(tmp_path, line, says):
    write(tmp_path / "pyproject.toml", f"[tool.green-estimate]\n{line}\n")
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        load_project_config(tmp_path, stop=tmp_path)


def test_same_key_twice_and_bad_toml(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.green-estimate]\nbatch-size = 8\nbatch_size = 16\n")
    with pytest.raises(ConfigError, match="twice"):
        load_project_config(tmp_path, stop=tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.green-estimate\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_project_config(tmp_path, stop=tmp_path)


def test_explicit_config_must_have_the_section(tmp_path):
    path = write(tmp_path / "elsewhere.toml", "[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match="no \\[tool.green-estimate\\] section"):
        load_project_config(tmp_path, path)
    with pytest.raises(ConfigError, match="no such file"):
        load_project_config(tmp_path, tmp_path / "missing.toml")


def test_file_defaults_and_cli_overrides(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "pyproject.toml", SECTION)
    sub = tmp_path / "proj" / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    config = load_project_config(sub, stop=tmp_path)
    request = check_request(no_options(epochs=3, optimizer="sgd"), config)
    assert request.model == os.path.join("..", "model.py")  # relative to the pyproject, seen from src/
    assert request.budget.energy_j == pytest.approx(2 * 3.6e6) and not request.budget.conservative
    assert request.plan == {"batch_size": 512, "epochs": 3, "samples": 60000, "optimizer": "sgd",
                            "input_shape": (1, 28, 28)}
    assert request.config_path == str(tmp_path / "proj" / "pyproject.toml")
    override = check_request(no_options(model="other.py", budget="3 MJ", conservative=True), config)
    assert override.model == "other.py" and override.budget.energy_j == pytest.approx(3e6)
    assert override.budget.conservative


def test_no_model_and_no_section_says_what_to_do(tmp_path):
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    config = load_project_config(tmp_path, stop=tmp_path)
    with pytest.raises(ConfigError, match="no MODEL given.*has no \\[tool.green-estimate\\] section"):
        check_request(no_options(budget="2kWh"), config)
    with pytest.raises(ConfigError, match="no budget given.*--budget"):
        check_request(no_options(model="m.py"), config)


def test_budget_text_in_the_file_is_parsed(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.green-estimate]\nbudget = "lots"\n')
    with pytest.raises(BudgetError, match="'lots' is not an energy"):
        check_request(no_options(model="m.py"), load_project_config(tmp_path, stop=tmp_path))


def test_model_paths_from_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config_file = tmp_path / "a" / "pyproject.toml"
    assert model_relative_to("model.py:Net", config_file) == os.path.join("a", "model.py:Net")
    assert model_relative_to("pkg.models:Net", config_file) == "pkg.models:Net"
    assert model_relative_to("model.py", None) == "model.py"


def test_where_says_what_was_found(tmp_path):
    assert "no pyproject.toml" in ProjectConfig(start=tmp_path).where()


def test_merged_fills_only_what_was_not_given(tmp_path):
    write(tmp_path / "pyproject.toml", SECTION + 'region = "DE"\n')
    config = load_project_config(tmp_path, stop=tmp_path)
    assert config.merged({"region": None, "epochs": 3, "profile": None}) == {"region": "DE", "epochs": 3,
                                                                              "profile": None}


def test_profile_path_in_pyproject_is_relative_to_it(tmp_path, monkeypatch):
    from green_estimate.check import PLAN_OPTIONS
    from green_estimate.project_config import load_project_config

    none = {k: None for k in ("model", "budget", "co2_budget", "conservative", *PLAN_OPTIONS)}
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "pyproject.toml").write_text('[tool.green-estimate]\nmodel = "m.py"\nbudget = "1kJ"\nprofile = "prof/p.json"\nsteps = 10\n')
    monkeypatch.chdir(proj / "sub")
    req = check_request(none, load_project_config(proj / "sub"))
    assert req.plan["profile"] == "../prof/p.json"
    assert req.model == "../m.py"
    named = check_request({**none, "profile": "datasheet:h100-sxm"}, load_project_config(proj / "sub"))
    assert named.plan["profile"] == "datasheet:h100-sxm"


def test_no_plan_in_options_or_file_is_a_config_error(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.green-estimate]\nmodel = "m.py"\nbudget = "2kWh"\nepochs = 3\n')
    config = load_project_config(tmp_path, stop=tmp_path)
    with pytest.raises(ConfigError, match="no training plan given.*--samples N.*--steps N.*samples or steps"):
        check_request(no_options(), config)
    assert check_request(no_options(steps=5), config).plan == {"epochs": 3, "steps": 5}
    assert check_request(no_options(samples=600), config).plan == {"epochs": 3, "samples": 600}


def test_relative_budget_and_baseline_from_the_file(tmp_path):
    from green_estimate.baseline import BaselineRequest

    write(tmp_path / "pyproject.toml", SECTION + 'max-increase = "10%"\nbaseline = "origin/main"\n')
    config = load_project_config(tmp_path, stop=tmp_path)
    request = check_request(no_options(), config)
    assert request.budget.max_increase == pytest.approx(0.10) and request.budget.energy_j == pytest.approx(7.2e6)
    assert request.baseline == BaselineRequest(ref="origin/main")
    # the command line wins: another ref, another limit, or a saved prediction instead of the file's ref
    given = check_request({**no_options(), "max_increase": "2.5%", "baseline": "v1.0"}, config)
    assert given.budget.max_increase == pytest.approx(0.025) and given.baseline == BaselineRequest(ref="v1.0")
    saved = check_request({**no_options(), "baseline_json": "base.json"}, config)
    assert saved.baseline == BaselineRequest(json_path="base.json")
    with pytest.raises(BudgetError, match="not both"):
        check_request({**no_options(), "baseline": "main", "baseline_json": "base.json"}, config)


def test_relative_budget_alone_is_a_budget(tmp_path):
    config = load_project_config(tmp_path, stop=tmp_path)
    request = check_request({**no_options(model="m.py", steps=10), "max_increase": "0%"}, config)
    assert request.budget.max_increase == 0.0 and request.budget.energy_j is None
    assert request.baseline is None  # run_check then compares with the merge base
    with pytest.raises(BudgetError, match="not a percentage"):
        check_request({**no_options(model="m.py", steps=10), "max_increase": "0.1"}, config)


def test_grad_accum_and_data_parallel_keys_reach_the_plan(tmp_path):
    from green_estimate.check import PLAN_OPTIONS

    section = SECTION + 'grad-accum = 4\ngpus = 16\nnodes = 2\ninterconnect = "nvlink4,ib-ndr"\nfsdp = true\noverlap = 0.25\n'
    config = load_project_config(tmp_path, write(tmp_path / "pyproject.toml", section))
    request = check_request({k: None for k in ("model", "budget", *PLAN_OPTIONS)}, config)
    assert {k: request.plan[k] for k in ("grad_accum", "gpus", "nodes", "interconnect", "fsdp", "overlap")} == {
        "grad_accum": 4, "gpus": 16, "nodes": 2, "interconnect": "nvlink4,ib-ndr", "fsdp": True, "overlap": 0.25}
    # the command line wins over the file
    over = check_request({**{k: None for k in ("model", "budget", *PLAN_OPTIONS)}, "gpus": 8}, config)
    assert over.plan["gpus"] == 8
    for bad in ("gpus = 0", "grad-accum = 1.5", "overlap = 2", 'fsdp = "yes"', "interconnect = 4"):
        with pytest.raises(ConfigError, match=bad.split(" ")[0]):
            load_project_config(tmp_path, write(tmp_path / "bad" / "pyproject.toml", SECTION + bad + "\n"))
