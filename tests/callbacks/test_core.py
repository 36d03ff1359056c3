"""The callbacks' shared parts: counting a real model without touching it, the runs-file appender,
and the error a callback module raises when its framework is missing."""
from __future__ import annotations

import builtins
import importlib
import sys

import pytest
import torch

from green_estimate.callbacks.core import FitPlan, count_fit_step, optimizer_name, split_batch
from green_estimate.errors import UsageError
from green_estimate.runs.runsfile import Run, RunsFileError, append_run, read_runs


def test_counting_a_batch_leaves_the_real_model_untouched():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.randn(5, 8), torch.zeros(5, dtype=torch.long))
    report = count_fit_step(model, batch, FitPlan(batch_size=5, steps=1, optimizer="sgd"), name="mlp")
    # forward GEMMs: 2·5·8·4 + 2·5·4·2 = 320 + 80 = 400 FLOPs (2 per multiply-accumulate)
    fwd = sum(o.flops for o in report.ops if o.phase == "forward" and o.cls == "linear")
    assert fwd == 400
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_a_dict_batch_is_keywords_and_a_tuple_its_first_element():
    x, y = torch.ones(2, 3), torch.zeros(2)
    assert split_batch({"input_ids": x, "labels": y}) == ((), {"input_ids": x, "labels": y})
    args, kwargs = split_batch((x, y))
    assert args[0] is x and kwargs == {}


def test_optimizer_names():
    p = [torch.nn.Parameter(torch.zeros(1))]
    assert optimizer_name(torch.optim.AdamW(p)) == "adamw"
    assert optimizer_name(torch.optim.SGD(p, lr=0.1)) == "sgd"
    assert optimizer_name(torch.optim.RMSprop(p)) == "adam"  # logged as counted like Adam


def _run(name: str, steps: int) -> Run:
    return Run(row=0, run=name, model="m.py", batch_size=4, steps=steps, device="cpu x", time_s=1.5)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_append_run_adds_rows_that_read_runs_reads_back(tmp_path, suffix):
    (tmp_path / "m.py").write_text("")
    path = tmp_path / f"runs{suffix}"
    append_run(_run("a", 3), path)
    append_run(_run("b", 7), path)
    runs = read_runs(path)
    assert [(r.run, r.steps, r.time_s) for r in runs] == [("a", 3, 1.5), ("b", 7, 1.5)]
    if suffix == ".csv":
        assert path.read_text().count("run,model,") == 1  # one header


def test_append_run_refuses_a_csv_of_other_columns(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(RunsFileError, match="header is not the runs file's columns"):
        append_run(_run("a", 1), path)


@pytest.mark.parametrize("module, package, extra", [("green_estimate.callbacks.lightning", "lightning", "lightning"),
                                                    ("green_estimate.callbacks.hf", "transformers", "hf")])
def test_a_missing_framework_says_what_to_install(monkeypatch, module, package, extra):
    real_import = builtins.__import__

    def hide(name, *args, **kwargs):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", hide)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(UsageError, match=rf"pip install 'green-estimate\[{extra}\]'"):
        importlib.import_module(module)
