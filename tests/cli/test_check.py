"""`green-estimate check`: exit codes, the check@1 JSON, pyproject defaults, CI formats, the hook."""
from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from green_estimate.cli.app import app
from tests.gitrepo import MODEL, commit, git, make_repo
from tests.jsonschemas import assert_valid
from tests.predictions import fake_prediction, predict_module, prediction_like, real_prediction

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ci"
KWH = 3.6e6
runner = CliRunner()


@pytest.fixture
def calls(monkeypatch):
    """Stand in for green_estimate.predict (imported lazily by check): energy = 10 J × batch × steps."""
    recorded: list[tuple[str, dict]] = []
    real_prediction()  # made by the real predict before it is stood in for

    def predict(model, *, batch_size=64, epochs=1, samples=None, steps=None, grid_intensity=None, **rest):
        recorded.append((model, {"batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps,
                                 "grid_intensity": grid_intensity, **rest}))
        given = samples or steps
        steps = steps or (math.ceil(samples / batch_size) * epochs if samples else epochs)  # as predict counts
        energy = 10.0 * batch_size * steps
        co2e = None if grid_intensity is None else energy / KWH * grid_intensity
        return fake_prediction(prediction_like(
            model=model, energy_j=energy, co2e_g=co2e,
            plan={"batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps},
            profile={"name": "fake", "device": "test CPU", "meter": "fake", "provenance": "estimated"},
            notes=([] if given else ["No --samples or --steps given: the total is one step per epoch."])
            + (["Profile other was measured on another device (elsewhere)."] if rest.get("profile") == "other" else []),
        ))

    monkeypatch.setattr(predict_module(), "predict", predict)  # the predictor the library calls by default
    return recorded


# 64 × 10 steps × 10 J = 6400 J
ARGS = ["check", "model.py", "--steps", "10"]


def test_generous_budget_exits_0(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "1kWh"])
    assert res.exit_code == 0, res.output
    assert "PASS" in res.stdout and "6.4 kJ" in res.stdout
    assert calls == [("model.py", {"batch_size": 64, "epochs": 1, "samples": None, "steps": 10,
                                   "grid_intensity": None})]


def test_tiny_budget_exits_1_and_says_over_budget(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "5kJ"])
    assert res.exit_code == 1
    assert res.stderr.startswith("Over budget: energy prediction 6.4 kJ is over the 5 kJ budget by 1.4 kJ")
    assert "FAIL" in res.stdout


def test_conservative_compares_the_upper_end(calls):
    assert runner.invoke(app, [*ARGS, "--budget", "7kJ"]).exit_code == 0
    res = runner.invoke(app, [*ARGS, "--budget", "7kJ", "--conservative", "--json"])
    assert res.exit_code == 1  # upper end 1.5 × 6400 J = 9600 J > 7000 J
    assert json.loads(res.stdout)["predicted"]["energy_j"] == pytest.approx(9600)


def test_json_carries_verdict_budget_and_prediction(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "2kWh", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["schema"] == "green-estimate/check@1" and d["verdict"] == "pass"
    assert d["budget"] == {"energy_j": pytest.approx(2 * KWH), "energy_kwh": pytest.approx(2.0), "co2e_g": None,
                           "compared": "point", "max_increase": None}
    assert d["baseline"] is None
    assert d["margin"]["energy_j"] == pytest.approx(2 * KWH - 6400)
    assert d["prediction"]["schema"] == "green-estimate/prediction@1"
    assert d["prediction"]["total"]["energy_j"] == pytest.approx(6400)
    assert json.loads(runner.invoke(app, [*ARGS, "--budget", "2kWh", "--format", "json"]).stdout) == d
    assert_valid(d, "check@1")  # the fake's prediction is a full one (tests/predictions.py)


def test_every_plan_option_reaches_predict(calls):
    res = runner.invoke(app, [
        "check", "pkg.models:Net", "--budget", "2kWh", "--batch-size", "32", "--epochs", "3", "--samples", "1000",
        "--optimizer", "sgd", "--input-shape", "3,32,32", "--profile", "cpu-ref", "--confidence", "0.8",
        "--grid-intensity", "400", "--region", "DE", "--co2-budget", "1kg"])
    assert res.exit_code == 0, res.output
    assert calls == [("pkg.models:Net", {
        "batch_size": 32, "epochs": 3, "samples": 1000, "steps": None, "grid_intensity": 400.0,
        "optimizer": "sgd", "input_shape": (3, 32, 32), "profile": "cpu-ref", "confidence": 0.8, "region": "DE"})]


def test_grad_accum_and_data_parallel_options_reach_predict(calls):
    res = runner.invoke(app, [
        "check", "pkg.models:Net", "--budget", "2kWh", "--steps", "100", "--grad-accum", "4", "--gpus", "16",
        "--nodes", "2", "--interconnect", "nvlink4,ib-ndr", "--fsdp", "--overlap", "0.25"])
    assert res.exit_code == 0, res.output
    plan = calls[0][1]
    assert {k: plan[k] for k in ("grad_accum", "gpus", "nodes", "interconnect", "fsdp", "overlap")} == {
        "grad_accum": 4, "gpus": 16, "nodes": 2, "interconnect": "nvlink4,ib-ndr", "fsdp": True, "overlap": 0.25}
    default = runner.invoke(app, ["check", "pkg.models:Net", "--budget", "2kWh", "--steps", "100"])
    assert default.exit_code == 0 and not {"grad_accum", "gpus", "fsdp"} & set(calls[-1][1])  # predict's defaults


def test_precision_reaches_predict_from_the_command_line_or_pyproject(calls, tmp_path, monkeypatch):
    res = runner.invoke(app, ["check", "pkg.models:Net", "--budget", "2kWh", "--steps", "100", "--precision", "bf16"])
    assert res.exit_code == 0, res.output
    assert calls[-1][1]["precision"] == "bf16"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.green-estimate]\nmodel = "pkg.models:Net"\nbudget = "2kWh"\n'
                                             'steps = 100\nprecision = "fp16"\n')
    res = runner.invoke(app, ["check"])
    assert res.exit_code == 0, res.output
    assert calls[-1][1]["precision"] == "fp16"
    res = runner.invoke(app, ["check", "--precision", "tf32"])  # the command line wins
    assert calls[-1][1]["precision"] == "tf32"
    (tmp_path / "pyproject.toml").write_text('[tool.green-estimate]\nmodel = "pkg.models:Net"\nbudget = "2kWh"\n'
                                             'steps = 100\nprecision = "int8"\n')
    res = runner.invoke(app, ["check"])
    assert res.exit_code == 2 and "precision" in res.output and "bf16" in res.output


def test_co2_budget(calls):
    # 6400 J = 6400 / 3.6e6 kWh at 400 g/kWh = 0.711 g
    ok = runner.invoke(app, [*ARGS, "--co2-budget", "1g", "--grid-intensity", "400", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["predicted"]["co2e_g"] == pytest.approx(6400 / KWH * 400)
    assert runner.invoke(app, [*ARGS, "--co2-budget", "0.5g", "--grid-intensity", "400"]).exit_code == 1


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--budget", "lots"], "--budget 'lots' is not an energy"),
        (["--budget", "2 furlongs"], "unknown unit 'furlongs'"),
        (["--budget", "0kWh"], "must be a positive"),
        (["--budget=-2kWh"], "must be a positive"),
        (["--budget", "2"], "has no unit"),
        (["--co2-budget", "500g"], "needs a grid carbon intensity"),
        ([], "no budget given"),
        (["--budget", "2kWh", "--input-shape", "3,a"], "is not a shape"),
    ],
)
def test_bad_input_exits_2_with_one_line(calls, tmp_path, monkeypatch, extra, says):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*ARGS, *extra])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and says in res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output
    assert calls == []


def test_missing_section_and_no_model_exits_2(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["check"])
    assert res.exit_code == 2
    assert "no MODEL given" in res.stderr and "has no [tool.green-estimate] section" in res.stderr


def test_pyproject_defaults_and_cli_overrides(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.green-estimate]\nmodel = "net.py"\nbudget = "1MJ"\nepochs = 2\nsamples = 640\nbatch-size = 32\n')
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    res = runner.invoke(app, ["check", "--epochs", "5"])
    assert res.exit_code == 0, res.output
    assert calls == [(str(Path("..") / "net.py"),
                      {"batch_size": 32, "epochs": 5, "samples": 640, "steps": None, "grid_intensity": None})]
    # 10 J × 32 × (640 / 32 × 5 = 100 steps) = 32 kJ: over a 30 kJ budget given on the command line
    assert runner.invoke(app, ["check", "--epochs", "5", "--budget", "30kJ"]).exit_code == 1


def test_unknown_pyproject_key_exits_2_with_suggestion(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.green-estimate]\nbatch-sise = 8\n')
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*ARGS, "--budget", "1kWh"])
    assert res.exit_code == 2
    assert "unknown key 'batch-sise'" in res.stderr and "did you mean 'batch-size'?" in res.stderr


def test_config_option_points_elsewhere(calls, tmp_path, monkeypatch):
    other = tmp_path / "conf" / "pyproject.toml"
    other.parent.mkdir()
    other.write_text('[tool.green-estimate]\nbudget = "1kJ"\n')
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, [*ARGS, "--config", str(other)]).exit_code == 1  # 6.4 kJ > 1 kJ


def test_github_format_annotates_and_writes_the_step_summary(calls, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    res = runner.invoke(app, [*ARGS, "--budget", "5kJ", "--format", "github"],
                        env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert res.exit_code == 1
    assert res.stdout.startswith("::error title=Energy budget exceeded::energy prediction 6.4 kJ is over")
    written = summary.read_text()
    assert written.startswith("earlier step\n### ❌ Training is over the energy budget")  # appended, not replaced
    assert "| Energy | 6.4 kJ | 5 kJ | 128.0% |" in written  # 6400 / 5000
    ok = runner.invoke(app, [*ARGS, "--budget", "1kWh", "--format", "github"], env={"GITHUB_STEP_SUMMARY": None})
    assert ok.exit_code == 0 and ok.stdout.startswith("::notice title=Energy budget::")


def test_markdown_format(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "8kJ", "--format", "markdown", "--conservative"])
    assert res.exit_code == 1  # upper end 9.6 kJ
    assert "| | predicted (upper end of interval) | budget | used |" in res.stdout
    assert "| Energy | 9.6 kJ | 8 kJ | 120.0% |" in res.stdout
    assert "Model `model.py`: 10 steps" in res.stdout


def test_workflow_is_valid_yaml_that_runs_check():
    workflow = yaml.safe_load((EXAMPLE / ".github" / "workflows" / "energy-budget.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    steps = workflow["jobs"]["energy-budget"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "--index-url https://download.pytorch.org/whl/cpu" in commands
    assert "pip install green-estimate" in commands
    assert "green-estimate check --format github" in commands
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the base branch's history, for the relative budget
    relative = next(step for step in steps if "--max-increase" in step.get("run", ""))
    assert relative["if"] == "github.event_name == 'pull_request'"
    assert '--max-increase 10% --baseline "origin/${{ github.base_ref }}"' in relative["run"]


def test_docs_workflow_matches_the_example():
    docs = (ROOT / "docs" / "ci.md").read_text()
    assert (EXAMPLE / ".github" / "workflows" / "energy-budget.yml").read_text().strip() in docs


def test_pre_commit_hook_runs_check_on_the_example_project(calls, monkeypatch):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "green-estimate-check")
    assert hook["language"] == "python" and hook["pass_filenames"] is False and hook["files"] == r"\.py$"
    program, *args = shlex.split(hook["entry"])
    assert program == "green-estimate"
    monkeypatch.chdir(EXAMPLE)
    res = runner.invoke(app, args)
    # budget 5 kJ, conservative: upper end 1.5 × 10 J × 512 × (ceil(60000 / 512) = 118) × 25 epochs = 6.29 kWh
    assert 1.5 * 10 * 512 * 118 * 25 > 5e3
    assert res.exit_code == 1, res.output
    assert "6.29 kWh is over the 5 kJ budget by 6.29 kWh" in res.stderr
    # the defaults of examples/ci/pyproject.toml reached predict
    assert calls == [("model.py", {"batch_size": 512, "epochs": 25, "samples": 60000, "steps": None,
                                   "grid_intensity": None, "optimizer": "adam",
                                   "profile": "datasheet:a100-sxm4-40gb"})]
    assert runner.invoke(app, [*args, "--budget", "7kWh"]).exit_code == 0


def test_predict_notes_reach_the_output(calls):
    res = runner.invoke(app, [*ARGS, "--budget", "1kWh", "--format", "markdown", "--profile", "other"])
    assert res.exit_code == 0, res.output
    assert "Note: Profile other was measured on another device (elsewhere)." in res.stdout


@pytest.mark.parametrize("plan", [[], ["--epochs", "25"], ["--batch-size", "512"]])
def test_no_plan_is_a_usage_error_not_a_one_step_gate(calls, tmp_path, monkeypatch, plan):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["check", "model.py", "--budget", "1J", *plan])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: no training plan given") and res.stderr.count("\n") == 1
    assert "--samples" in res.stderr and "--steps" in res.stderr and "samples or steps in [tool.green-estimate]" in res.stderr
    assert calls == []  # refused before pricing one step


def test_a_plan_from_pyproject_is_enough(calls, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.green-estimate]\nsteps = 10\n')
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["check", "model.py", "--budget", "1kWh"])
    assert res.exit_code == 0, res.output
    assert calls[0][1]["steps"] == 10


# --- relative budgets: a real repository, the real predictor -------------------------------------------

PROFILE = "datasheet:a100-sxm4-40gb"
PLAN_ARGS = ["--steps", "100", "--batch-size", "64", "--profile", PROFILE]
WIDE_MODEL = MODEL


def commit_model(repo: Path, width: int) -> None:
    commit(repo, {"model.py": WIDE_MODEL.format(width=width)}, f"width {width}")


def direct_total_j(tmp_path: Path, width: int) -> float:
    """The prediction of one width, made without git or check: the independent side of the ratio."""
    from green_estimate.predict import predict

    path = tmp_path / "copies" / f"w{width}.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(WIDE_MODEL.format(width=width))
    return predict(str(path), steps=100, batch_size=64, profile=PROFILE).to_dict()["total"]["energy_j"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A git repository: main has a 512-wide model; the checked-out branch `feature` starts there."""
    repo = make_repo(tmp_path / "proj")
    commit_model(repo, 512)
    git(repo, "checkout", "-q", "-b", "feature")
    monkeypatch.chdir(repo)
    return repo


def repo_state(repo: Path) -> tuple[str, ...]:
    return (git(repo, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
            git(repo, "worktree", "list", "--porcelain"), git(repo, "stash", "list"), git(repo, "rev-parse", "HEAD"))


def test_max_increase_passes_within_and_fails_over_the_base_branch(project, tmp_path):
    base_j = direct_total_j(tmp_path, 512)
    near, far = direct_total_j(tmp_path, 544) / base_j - 1, direct_total_j(tmp_path, 2048) / base_j - 1
    assert 0 < near < 0.10 < far  # within 10% and clearly over it, computed without check

    commit_model(project, 544)
    before = repo_state(project)
    ok = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", *PLAN_ARGS, "--format", "markdown"])
    assert ok.exit_code == 0, ok.output
    assert "### ✅ Training fits the energy budget" in ok.stdout
    assert f"| Increase over base (point estimate) | {100 * near:+.1f}% | 10% | – |" in ok.stdout
    assert "#### Base vs head: `main (merge base " in ok.stdout
    assert f"| **{100 * near:+.1f}%** |" in ok.stdout  # the whole-run row
    assert repo_state(project) == before

    commit_model(project, 2048)
    before = repo_state(project)
    bad = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", *PLAN_ARGS, "--format", "markdown"])
    assert bad.exit_code == 1, bad.output
    assert bad.stderr.startswith(f"Over budget: energy change {100 * far:+.1f}% against main (merge base ")
    assert bad.stderr.rstrip().endswith("is over the 10% limit on increase")
    # the per-class diff: linear layers 4× wider, their energy per step up by more than the whole run
    linear = next(line for line in bad.stdout.splitlines() if line.startswith("| linear |"))
    change = float(linear.split("|")[4].strip().rstrip("%"))
    assert change > 100 * far
    assert "| class | energy/step base | head | change | time/step base | head | change | share base | head |" in bad.stdout
    assert f"Base profile **{PROFILE}**" in bad.stdout and f"head profile **{PROFILE}**" in bad.stdout
    assert repo_state(project) == before


def test_baseline_json_gives_the_same_verdict_as_the_git_ref(project, tmp_path):
    saved = tmp_path / "baseline.json"
    predicted = runner.invoke(app, ["predict", "model.py", *PLAN_ARGS, "--json"])  # on main's model
    assert predicted.exit_code == 0, predicted.output
    saved.write_text(predicted.stdout)
    commit_model(project, 2048)
    by_git = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", "--baseline", "main", *PLAN_ARGS, "--json"])
    by_json = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", "--baseline-json", str(saved),
                                  *PLAN_ARGS, "--json"])
    assert by_git.exit_code == by_json.exit_code == 1
    git_doc, json_doc = json.loads(by_git.stdout), json.loads(by_json.stdout)
    assert git_doc["verdict"] == json_doc["verdict"] == "fail"
    assert git_doc["exceeded"] == json_doc["exceeded"] == ["increase"]
    assert json_doc["baseline"]["increase"] == pytest.approx(git_doc["baseline"]["increase"], rel=1e-12)
    assert git_doc["baseline"]["source"] == "git" and git_doc["baseline"]["commit"] == git(project, "rev-parse", "main").strip()
    assert json_doc["baseline"]["source"] == "json" and json_doc["budget"]["max_increase"] == pytest.approx(0.10)
    # a check@1 document works as a baseline too (its prediction is used)
    (tmp_path / "check.json").write_text(by_git.stdout)
    again = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", "--baseline-json",
                                str(tmp_path / "check.json"), *PLAN_ARGS, "--json"])
    assert json.loads(again.stdout)["baseline"]["increase"] == pytest.approx(0.0)  # head against itself


def test_absolute_and_relative_limits_each_say_which_failed(project):
    commit_model(project, 2048)
    relative = runner.invoke(app, ["check", "model.py", "--budget", "1MJ", "--max-increase", "10%", *PLAN_ARGS])
    assert relative.exit_code == 1
    assert relative.stderr.startswith("Over budget: energy change +") and "kJ budget" not in relative.stderr
    absolute = runner.invoke(app, ["check", "model.py", "--budget", "1J", "--max-increase", "100%", *PLAN_ARGS, "--json"])
    assert absolute.exit_code == 1 and json.loads(absolute.stdout)["exceeded"] == ["energy"]
    both = runner.invoke(app, ["check", "model.py", "--budget", "1J", "--max-increase", "10%", *PLAN_ARGS])
    assert both.exit_code == 1
    assert "is over the 1 J budget" in both.stderr and "is over the 10% limit on increase" in both.stderr


def test_a_new_model_file_has_no_baseline_and_passes_the_relative_limit(project, tmp_path):
    (project / "new.py").write_text(WIDE_MODEL.format(width=64))
    git(project, "add", "new.py")
    git(project, "commit", "-q", "-m", "new model")
    res = runner.invoke(app, ["check", "new.py", "--max-increase", "10%", *PLAN_ARGS, "--format", "github"],
                        env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    assert res.exit_code == 0, res.output
    assert "no baseline at main (merge base " in res.stdout and "new.py does not exist there (a new file)" in res.stdout
    assert "No baseline: new.py does not exist there (a new file)" in (tmp_path / "summary.md").read_text()
    # the absolute budget still applies
    assert runner.invoke(app, ["check", "new.py", "--max-increase", "10%", "--budget", "1J", *PLAN_ARGS]).exit_code == 1


@pytest.mark.parametrize(("extra", "says"), [
    (["--baseline", "no-such-branch"], "--baseline 'no-such-branch' is not a commit, branch or tag"),
    (["--baseline", "main", "--baseline-json", "b.json"], "give --baseline REF or --baseline-json FILE, not both"),
    (["--baseline-json", "missing.json"], "--baseline-json missing.json: no such file"),
    (["--max-increase", "10"], "--max-increase '10' is not a percentage"),
])
def test_bad_baselines_exit_2_with_one_line(project, extra, says):
    args = ["check", "model.py", "--max-increase", "10%", *PLAN_ARGS, *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and says in res.stderr and res.stderr.count("\n") == 1


def test_another_profile_or_schema_in_the_saved_baseline_is_refused(project, tmp_path):
    predicted = runner.invoke(app, ["predict", "model.py", *PLAN_ARGS, "--json"])
    (tmp_path / "b.json").write_text(predicted.stdout)
    other = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", "--baseline-json", str(tmp_path / "b.json"),
                                "--steps", "100", "--profile", "datasheet:h100-sxm"])
    assert other.exit_code == 2 and other.stderr.count("\n") == 1
    assert f"was priced with profile '{PROFILE}' (datasheet), the head with 'datasheet:h100-sxm'" in other.stderr
    (tmp_path / "plan.json").write_text(json.dumps({"schema": "green-estimate/plan@1"}))
    plan = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", "--baseline-json",
                               str(tmp_path / "plan.json"), *PLAN_ARGS])
    assert plan.exit_code == 2 and "is a green-estimate/plan@1 document, not green-estimate/prediction@1" in plan.stderr


def test_relative_check_outside_git_says_to_use_a_saved_baseline(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(WIDE_MODEL.format(width=64))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path is in no repository
    res = runner.invoke(app, ["check", "model.py", "--max-increase", "10%", *PLAN_ARGS])
    assert res.exit_code == 2
    assert "is not in a git repository: a relative budget needs --baseline-json FILE" in res.stderr
