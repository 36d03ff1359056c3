"""The public Python API: green_estimate.count / predict of a model object, a factory or a file."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import green_estimate as ge
from green_estimate.errors import ModelLoadError, UsageError
from tests.jsonschemas import assert_valid

MLP_FILE = """
import torch.nn as nn

INPUT_SHAPE = (8,)

def build_model():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
"""


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_the_call_of_the_issue_prints_the_prediction_schema(tmp_path):
    code = ("import green_estimate as ge, torch.nn as nn; print(ge.predict(nn.Linear(8, 2), "
            "ge.TrainingPlan(batch_size=4, steps=10), input_shape=(8,)).to_dict()['schema'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "green-estimate/prediction@1"


def test_import_is_cheap_and_the_names_resolve_lazily():
    code = ("import sys, green_estimate as ge\n"
            "heavy = [m for m in ('torch', 'numpy', 'statsmodels', 'typer') if m in sys.modules]\n"
            "assert 'count' in dir(ge) and 'TrainingPlan' in ge.__all__\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_predict_stays_the_function_when_the_module_of_that_name_is_imported():
    import importlib

    importlib.import_module("green_estimate.predict")
    from green_estimate.predict import predict_report  # noqa: F401 - the module stays importable

    assert callable(ge.predict) and ge.predict.__module__ == "green_estimate.api"
    from green_estimate import predict

    assert predict is ge.predict
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ge.nothing  # noqa: B018


def test_count_of_a_linear_layer_matches_the_arithmetic():
    r = ge.count(nn.Linear(8, 2), input_shape=(8,), batch_size=4, optimizer="sgd")
    assert r.to_dict()["schema"] == "green-estimate/cost@1" and r.batch_size == 4 and r.parameters == 8 * 2 + 2
    mm = {(o.op, o.phase): o.flops for o in r.ops if o.cls == "linear"}
    assert mm[("aten.addmm", "forward")] == 2 * 4 * 8 * 2  # batch 4, 8 in, 2 out, 2 FLOPs per MAC
    # backward: only the weight gradient (the input needs none): 2 x (2 x 4) x (4 x 8) MACs
    assert mm[("aten.mm", "backward")] == 2 * 2 * 4 * 8
    assert r.device == "meta"


def test_a_model_object_a_factory_and_a_model_file_count_the_same(tmp_path):
    path = tmp_path / "mlp.py"
    path.write_text(MLP_FILE)
    from_file = ge.count(str(path), batch_size=4).to_dict()
    for model in (mlp(), mlp, path):
        d = ge.count(model, input_shape=(8,), batch_size=4).to_dict() if model is not path else from_file
        assert d["totals"] == from_file["totals"] and d["by_class"] == from_file["by_class"]
        assert d["parameters"] == 8 * 16 + 16 + 16 * 2 + 2


def test_the_users_model_is_not_touched():
    model = mlp().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ge.count(model, torch.randn(3, 8))
    assert not model.training  # the counter trains a copy
    for k, v in model.state_dict().items():
        assert v.device.type == "cpu" and torch.equal(v, before[k])
    assert all(p.grad is None for p in model.parameters())


def test_a_model_too_large_for_memory_is_counted_without_allocating_it():
    with torch.device("meta"):
        huge = nn.Linear(100_000, 100_000)  # 10 billion parameters: 40 GB if any copy were real
    start = time.perf_counter()
    r = ge.count(huge, input_shape=(100_000,), batch_size=2, optimizer="adam")
    assert r.parameters == 100_000 * 100_000 + 100_000
    assert time.perf_counter() - start < 60


def test_shared_weights_stay_shared_in_the_copy():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 6)
            self.out = nn.Linear(6, 50, bias=False)
            self.out.weight = self.emb.weight

        def forward(self, ids):
            return self.out(self.emb(ids))

    r = ge.count(Tied(), torch.randint(0, 50, (2, 5)))
    assert r.parameters == 50 * 6  # one tensor, counted once


def test_an_example_batch_is_resized_to_the_batch_size():
    model = mlp()
    by_shape = ge.count(model, input_shape=(8,), batch_size=6).totals()
    assert ge.count(model, torch.randn(1, 8), batch_size=6).totals() == by_shape
    assert ge.count(model, (torch.randn(4, 8),), batch_size=6).totals() == by_shape
    assert ge.count(model, torch.randn(6, 8)).batch_size == 6  # the example's rows by default
    assert ge.count(model, lambda b: torch.randn(b, 8), batch_size=6).totals() == by_shape


def test_a_dict_example_is_passed_as_keywords():
    class Keyed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 2)

        def forward(self, x, scale=1.0):
            return self.lin(x) * scale

    r = ge.count(Keyed(), {"x": torch.randn(3, 8), "scale": 2.0})
    assert r.batch_size == 3 and r.input_shapes == [(3, 8)]


def test_predict_a_model_object_as_its_file(tmp_path):
    path = tmp_path / "mlp.py"
    path.write_text(MLP_FILE)
    plan = ge.TrainingPlan(batch_size=4, steps=10)
    obj = ge.predict(mlp(), plan, input_shape=(8,), profile="datasheet:h100-sxm").to_dict()
    from_file = ge.predict(path, plan, profile="datasheet:h100-sxm").to_dict()
    assert obj["per_step"]["energy_j"] == pytest.approx(from_file["per_step"]["energy_j"], rel=1e-12)
    assert obj["total"]["energy_j"] == pytest.approx(10 * obj["per_step"]["energy_j"])
    assert obj["model"] == "Sequential" and obj["plan"]["steps"] == 10
    assert_valid(obj, "prediction@1")


def test_training_plan_takes_steps_under_both_names():
    assert ge.TrainingPlan(batch_size=4, steps=10) == ge.TrainingPlan(4, steps_given=10)
    assert ge.TrainingPlan(batch_size=4, steps=10).steps == 10
    assert ge.TrainingPlan(batch_size=512, epochs=25, samples=60000).steps == 118 * 25  # ceil(60000/512) = 118
    with pytest.raises(UsageError, match="give the steps once"):
        ge.TrainingPlan(steps=3, steps_given=4)
    with pytest.raises(UsageError, match="--steps 0"):
        ge.TrainingPlan(steps=0)


def test_errors_say_what_to_do():
    with pytest.raises(ModelLoadError, match="pass example_input=.* or input_shape="):
        ge.count(mlp())
    with pytest.raises(UsageError, match="not both"):
        ge.count(mlp(), torch.randn(2, 8), input_shape=(8,))
    with pytest.raises(ModelLoadError, match="torch.nn.Module, a function that builds one, or a model file"):
        ge.count(42, input_shape=(8,))
    with pytest.raises(ModelLoadError, match="returned a int, not a torch.nn.Module"):
        ge.count(lambda: 3, input_shape=(8,))
    with pytest.raises(UsageError, match="must be a green_estimate.TrainingPlan"):
        ge.predict(mlp(), {"batch_size": 4}, input_shape=(8,))
    with pytest.raises(ModelLoadError, match="rejected input of shape"):
        ge.count(mlp(), input_shape=(7,), batch_size=2)


def test_a_model_that_cannot_be_copied_asks_for_a_factory():
    model = mlp()
    model.lock = threading.Lock()  # deepcopy cannot copy a lock
    with pytest.raises(ModelLoadError, match="pass a function that builds the model"):
        ge.count(model, input_shape=(8,))
    assert ge.count(mlp, input_shape=(8,)).parameters == sum(p.numel() for p in model.parameters())


def test_lazy_modules_are_counted(tmp_path):
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 2))
    r = ge.count(model, input_shape=(8,), batch_size=2)
    assert r.parameters == 8 * 4 + 4 + 4 * 2 + 2
    assert any("Lazy" in n for n in r.notes)
    assert isinstance(model[0], nn.LazyLinear)  # the user's module is still lazy


def test_the_api_docs_run():
    """Every python block of docs/api.md runs, in order, in one namespace (the docs cannot rot)."""
    from tests.docblocks import run_python_blocks

    ran = run_python_blocks(Path(__file__).resolve().parents[1] / "docs" / "api.md")
    assert ran >= 5
