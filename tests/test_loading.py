"""MODEL specs: entry points, inputs, and every bad-input case as one clear ModelLoadError."""
from __future__ import annotations

import textwrap

import pytest

from green_estimate.counting.counter import count_model
from green_estimate.errors import ModelLoadError
from green_estimate.loading import load_workload, split_spec


def write(tmp_path, text, name="m.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


GOOD = """
import torch, torch.nn as nn
INPUT_SHAPE = (4,)
def build_model(width=3):
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 2))
def other():
    return nn.Linear(4, 5)
"""


def test_split_spec():
    assert split_spec("a/b.py:build") == ("a/b.py", "build")
    assert split_spec("pkg.mod") == ("pkg.mod", None)
    assert split_spec("C:model.py") == ("C:model.py", None)


def test_build_model_preferred_and_named_entry(tmp_path):
    path = write(tmp_path, GOOD)
    r = count_model(path, batch_size=2, optimizer="none")
    assert r.parameters == 4 * 3 + 3 + 3 * 2 + 2
    r2 = count_model(f"{path}:other", batch_size=2, optimizer="none")
    assert r2.parameters == 4 * 5 + 5


def test_model_kwargs_reach_build_model(tmp_path):
    r = count_model(write(tmp_path, GOOD), batch_size=2, optimizer="none", model_kwargs={"width": 7})
    assert r.parameters == 4 * 7 + 7 + 7 * 2 + 2


def test_module_level_model_and_get_model(tmp_path):
    a = write(tmp_path, "import torch.nn as nn\nmodel = nn.Linear(3, 2)\nINPUT_SHAPE=(3,)\n", "a.py")
    b = write(tmp_path, "import torch.nn as nn\ndef get_model():\n    return nn.Linear(3, 4)\nINPUT_SHAPE=(3,)\n", "b.py")
    assert count_model(a, batch_size=1).parameters == 8
    assert count_model(b, batch_size=1).parameters == 16


def test_example_input_beats_input_shape_and_option_beats_both(tmp_path):
    path = write(tmp_path, """
        import torch, torch.nn as nn
        INPUT_SHAPE = (99,)
        def build_model():
            return nn.Linear(6, 2)
        def example_input(batch_size):
            return torch.randn(batch_size, 6)
    """)
    assert count_model(path, batch_size=3).input_shapes == [(3, 6)]
    with pytest.raises(ModelLoadError, match=r"rejected input of shape \(3, 5\)"):
        count_model(path, batch_size=3, input_shape=(5,))


def test_module_spec(tmp_path, monkeypatch):
    write(tmp_path, GOOD, "my_models.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert count_model("my_models:other", batch_size=1).parameters == 25


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_workload(str(tmp_path / "nope.py"))


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "import torch\n\ndef build_model(:\n    pass\n")
    with pytest.raises(ModelLoadError, match=r"m\.py:3: syntax error"):
        load_workload(path)


def test_import_error_names_line(tmp_path):
    path = write(tmp_path, "x = 1\nraise ValueError('bad config')\n")
    with pytest.raises(ModelLoadError, match=r"raised ValueError: bad config .*line 2"):
        load_workload(path)


def test_no_entry_point_says_what_was_looked_for(tmp_path):
    path = write(tmp_path, "import torch\nINPUT_SHAPE = (3,)\n")
    with pytest.raises(ModelLoadError, match=r"none of build_model\(\), model, get_model\(\)"):
        load_workload(path)


def test_constructor_raising_gives_its_message(tmp_path):
    path = write(tmp_path, "INPUT_SHAPE=(3,)\ndef build_model():\n    raise RuntimeError('needs a config file')\n")
    with pytest.raises(ModelLoadError, match=r"build_model\(\) in .* raised RuntimeError: needs a config file"):
        count_model(path)


def test_no_input_shape(tmp_path):
    path = write(tmp_path, "import torch.nn as nn\ndef build_model():\n    return nn.Linear(3, 2)\n")
    with pytest.raises(ModelLoadError, match=r"no input shape.*--input-shape 3,32,32"):
        load_workload(path)


def test_rejected_shape_names_shape_and_layer(tmp_path):
    path = write(tmp_path, """
        import torch.nn as nn
        INPUT_SHAPE = (3, 8, 8)
        def build_model():
            return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))
    """)
    with pytest.raises(ModelLoadError, match=r"input of shape \(2, 3, 8, 8\): layer `2` \(Linear\) raised RuntimeError"):
        count_model(path, batch_size=2)


def test_entry_returning_non_module(tmp_path):
    path = write(tmp_path, "INPUT_SHAPE=(3,)\ndef build_model():\n    return 42\n")
    with pytest.raises(ModelLoadError, match="returned a int, not a torch.nn.Module"):
        count_model(path)


def test_bad_optimizer_is_a_usage_error(tmp_path):
    from green_estimate.errors import UsageError

    with pytest.raises(UsageError, match="unknown optimizer 'rmsprop'"):
        count_model(write(tmp_path, GOOD), optimizer="rmsprop")
