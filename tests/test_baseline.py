"""Relative budgets: the same model and plan priced at a git ref or read from a saved prediction.

The git tests make a real repository in tmp_path and price real model files with the real
predictor (the A100 datasheet profile: no calibration needed); the expected increase is computed
independently by predicting copies of each commit's files directly.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from green_estimate.baseline import (
    Baseline,
    BaselineRequest,
    baseline_at_ref,
    compare,
    default_branch,
    load_baseline_json,
    parse_increase,
)
from green_estimate.budget import Budget
from green_estimate.check import CheckRequest, run_check
from green_estimate.errors import BaselineError, BudgetError
from tests.gitrepo import MODEL, commit, git, make_repo

PROFILE = "datasheet:a100-sxm4-40gb"
PLAN = {"steps": 100, "batch_size": 64, "profile": PROFILE}
def total_j(path: Path, **plan) -> float:
    from green_estimate.predict import predict

    return predict(str(path), **{**PLAN, **plan}).to_dict()["total"]["energy_j"]


def real_predict(model, **plan):
    from green_estimate.predict import predict

    return predict(model, **plan)


def doc(energy_j: float, profile: str = "p", provenance: str = "measured", steps: int = 10, by_class=None) -> dict:
    return {"schema": "green-estimate/prediction@1", "model": "m.py",
            "profile": {"name": profile, "device": "d", "provenance": provenance},
            "plan": {"batch_size": 64, "epochs": 1, "samples": None, "steps": steps},
            "total": {"energy_j": energy_j, "energy_j_interval": [energy_j, energy_j], "time_s": 1.0, "co2e_g": None},
            "by_class": by_class or {}}


# --- parsing and saved baselines ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fraction"), [("10%", 0.10), (" 2.5 % ", 0.025), ("0%", 0.0), ("150%", 1.5)])
def test_parse_increase(text, fraction):
    assert parse_increase(text) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["10", "0.1", "-5%", "ten%", "%"])
def test_parse_increase_refuses_what_is_not_a_percentage(text):
    with pytest.raises(BudgetError, match="is not a percentage"):
        parse_increase(text)


def test_baseline_json_reads_predict_and_check_documents(tmp_path):
    prediction = doc(100.0)
    (tmp_path / "p.json").write_text(json.dumps(prediction))
    (tmp_path / "c.json").write_text(json.dumps({"schema": "green-estimate/check@1", "prediction": prediction}))
    assert load_baseline_json(tmp_path / "p.json").prediction == prediction
    assert load_baseline_json(tmp_path / "c.json").prediction == prediction


@pytest.mark.parametrize(("content", "says"), [
    (json.dumps({"schema": "green-estimate/plan@1"}), "is a green-estimate/plan@1 document, not green-estimate/prediction@1"),
    (json.dumps([1, 2]), "is a schema-less document"),
    ("{not json", "is not JSON (line 1)"),
    (None, "no such file"),
])
def test_baseline_json_refuses_other_documents_in_one_line(tmp_path, content, says):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BaselineError, match=".*") as info:
        load_baseline_json(path)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_ref_and_json_together_are_refused():
    with pytest.raises(BudgetError, match="not both"):
        BaselineRequest(ref="main", json_path="b.json")


# --- comparison -------------------------------------------------------------------------------------


def test_increase_and_limit():
    base = Baseline("json", "b.json", doc(100.0))
    assert compare(doc(110.0), base, 0.10).increase == pytest.approx(0.10)
    assert not compare(doc(110.0), base, 0.10).exceeded  # exactly at the limit passes
    over = compare(doc(112.0), base, 0.10)
    assert over.exceeded and over.line() == (
        "energy change +12.0% against b.json (100 J → 112 J) is over the 10% limit on increase")
    assert compare(doc(90.0), base, 0.0).line().startswith("energy change -10.0% against b.json")
    assert not compare(doc(1000.0), base, None).exceeded  # no limit: compare only


def test_per_class_rows_and_changes():
    base = doc(100.0, by_class={"linear": {"energy_j_per_step": 2.0, "time_s_per_step": 0.1, "share": 0.5},
                                "conv": {"energy_j_per_step": 2.0, "time_s_per_step": 0.2, "share": 0.5}})
    head = doc(150.0, by_class={"linear": {"energy_j_per_step": 3.0, "time_s_per_step": 0.1, "share": 0.6},
                                "relu": {"energy_j_per_step": 2.0, "time_s_per_step": 0.1, "share": 0.4}})
    rows = {r["class"]: r for r in compare(head, Baseline("json", "b", base)).classes()}
    assert list(rows) == ["linear", "relu", "conv"]  # the head's classes, then those only the base has
    assert rows["linear"]["energy_j_change"] == pytest.approx(3.0 / 2.0 - 1)
    assert rows["linear"]["time_s_change"] == pytest.approx(0.0)
    assert rows["relu"]["base_energy_j"] is None and rows["relu"]["energy_j_change"] is None
    assert rows["conv"]["head_energy_j"] is None and rows["conv"]["base_share"] == 0.5


@pytest.mark.parametrize(("other", "says"), [
    (doc(100.0, profile="q"), "priced with profile 'q' (measured), the head with 'p' (measured)"),
    (doc(100.0, provenance="datasheet"), "priced with profile 'p' (datasheet), the head with 'p' (measured)"),
])
def test_another_profile_is_refused_with_the_reason(other, says):
    with pytest.raises(BaselineError) as info:
        compare(doc(100.0), Baseline("json", "b.json", other), 0.1)
    assert says in str(info.value) and "same --profile" in str(info.value)


def test_a_different_plan_is_noted():
    comparison = compare(doc(200.0, steps=20), Baseline("json", "b.json", doc(100.0, steps=10)), 0.1)
    assert comparison.exceeded and comparison.notes == [
        "the baseline's training plan differs (steps 10 → 20): the change includes it"]


def test_no_baseline_passes_the_relative_limit_but_not_the_absolute_one(tmp_path):
    saved = tmp_path / "b.json"
    saved.write_text(json.dumps(doc(100.0)))
    verdict = run_check(CheckRequest("m.py", Budget(energy_j=50.0, max_increase=0.5), {"steps": 10},
                                     baseline=BaselineRequest(json_path=str(saved))),
                        lambda model, **plan: SimpleNamespace(to_dict=lambda: doc(120.0)))
    assert verdict.exceeded == ["energy"]  # +20% is within 50%, 120 J is over 50 J
    nothing = compare(doc(120.0), Baseline("git", "main (abc1234)", None, "m.py does not exist there"), 0.1)
    assert not nothing.exceeded and nothing.increase is None
    assert nothing.line() == "no baseline at main (abc1234): m.py does not exist there; the 10% limit is not applied"


# --- a git ref ---------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """main: a 512-wide model in model.py; then branch feature."""
    repo = make_repo(tmp_path / "proj")
    commit(repo, {"model.py": MODEL.format(width=512), "README": "x\n"}, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    monkeypatch.chdir(repo)
    return repo


def status(repo: Path) -> tuple[str, str, str]:
    return (git(repo, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
            git(repo, "worktree", "list", "--porcelain"), git(repo, "stash", "list"))


def test_increase_at_the_merge_base_equals_the_ratio_of_direct_predictions(repo, tmp_path):
    copies = tmp_path / "copies"
    copies.mkdir()
    (copies / "base.py").write_text(MODEL.format(width=512))
    (copies / "head.py").write_text(MODEL.format(width=2048))
    expected = total_j(copies / "head.py") / total_j(copies / "base.py") - 1.0
    assert expected > 0.10  # the test means something only if the wider model costs visibly more

    commit(repo, {"model.py": MODEL.format(width=2048)}, "wider")
    before = status(repo)
    head = real_predict("model.py", **PLAN).to_dict()
    base = baseline_at_ref("model.py", PLAN, real_predict)
    assert base.source == "git" and base.label.startswith("main (merge base ")
    assert base.commit == git(repo, "rev-parse", "main").strip()
    comparison = compare(head, base, 0.10)
    assert comparison.increase == pytest.approx(expected, rel=1e-9)
    assert comparison.exceeded
    assert base.prediction["model"] == "model.py" and base.prediction["profile"]["name"] == PROFILE
    assert status(repo) == before  # working tree, index, worktrees and stash untouched


def test_uncommitted_head_against_an_explicit_ref(repo):
    (repo / "model.py").write_text(MODEL.format(width=544))  # edited, not committed
    before = status(repo)
    base = baseline_at_ref("model.py", PLAN, real_predict, ref="HEAD")
    assert base.label == f"HEAD ({git(repo, 'rev-parse', 'HEAD')[:7]})"
    head = real_predict("model.py", **PLAN).to_dict()
    assert base.prediction["total"]["energy_j"] < head["total"]["energy_j"]  # 512 wide at HEAD, 544 here
    assert status(repo) == before and (repo / "model.py").read_text() == MODEL.format(width=544)


def test_siblings_are_imported_from_the_ref_too(repo):
    """The head's model imports a sibling; the base must import *its* sibling, not the head's cached one."""
    sibling_model = "import torch.nn as nn\nfrom widths import WIDTH\nINPUT_SHAPE = (256,)\n" \
                    "def build_model():\n    return nn.Sequential(nn.Linear(256, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 10))\n"
    base_commit = commit(repo, {"net.py": sibling_model, "widths.py": "WIDTH = 512\n"}, "net")
    commit(repo, {"widths.py": "WIDTH = 2048\n"}, "wider")
    head = real_predict("net.py", **PLAN).to_dict()
    base = baseline_at_ref("net.py", PLAN, real_predict, ref=base_commit)
    direct = real_predict("model.py", **PLAN).to_dict()  # model.py is 512 wide: the same network as net.py at base
    assert base.prediction["total"]["energy_j"] == pytest.approx(direct["total"]["energy_j"], rel=1e-12)
    assert head["total"]["energy_j"] > base.prediction["total"]["energy_j"]
    import sys

    assert sys.modules["widths"].WIDTH == 2048  # the head's sibling is back after the base was priced


def test_a_model_new_at_head_is_no_baseline(repo):
    commit(repo, {"sub/new.py": MODEL.format(width=64)}, "new model")
    base = baseline_at_ref("sub/new.py", PLAN, real_predict)
    assert base.prediction is None and base.reason == "sub/new.py does not exist there (a new file)"


def test_a_model_that_does_not_load_at_the_ref_is_no_baseline(repo):
    commit(repo, {"model.py": "def build_model(:\n"}, "broken")
    broken = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"model.py": MODEL.format(width=512)}, "fixed")
    base = baseline_at_ref("model.py", PLAN, real_predict, ref=broken)
    assert base.prediction is None and base.reason.startswith("the model does not load there: model.py:1: syntax error")


def test_unknown_ref_and_no_repository_are_one_line_errors(repo, tmp_path, monkeypatch):
    with pytest.raises(BaselineError, match="--baseline 'nope' is not a commit, branch or tag"):
        baseline_at_ref("model.py", PLAN, real_predict, ref="nope")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "m.py").write_text(MODEL.format(width=8))
    monkeypatch.chdir(outside)
    with pytest.raises(BaselineError, match="is not in a git repository: a relative budget needs --baseline-json"):
        baseline_at_ref("m.py", PLAN, real_predict)


def test_default_branch_prefers_origin_head(tmp_path):
    upstream = make_repo(tmp_path / "up")
    commit(upstream, {"a": "1"}, "one")
    git(upstream, "branch", "-m", "main", "trunk")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True)
    assert default_branch(clone) == "origin/trunk"
    bare = make_repo(tmp_path / "bare")
    with pytest.raises(BaselineError, match="no default branch"):
        default_branch(bare)
    commit(bare, {"a": "1"}, "one")
    assert default_branch(bare) == "main"
