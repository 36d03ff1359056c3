"""Counting without importing torch._dynamo: the same ops as with it, and nothing left behind.

Each check runs in a fresh interpreter, since the test process may have imported torch._dynamo.
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

from green_estimate.counting.dynamo_free import dynamo_free


def run_fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


COUNT = """
import json, sys
import torch, torch.nn as nn
from green_estimate.counting.step import count_step

def model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5)).to("meta")

def counts():
    x = (torch.empty(2, 3, 6, 6, device="meta"),)
    return [[repr(o) for o in count_step(model(), x, optimizer=opt, precision=prec).ops]
            for opt, prec in [("adam", "fp32"), ("adamw", "bf16"), ("sgd", "fp16"), ("adam", "fp16"), ("none", "fp32")]]
"""


def test_counting_imports_no_dynamo_and_counts_what_the_real_guards_count():
    result = run_fresh(COUNT + """
without = counts()
imported = "torch._dynamo" in sys.modules
import torch._dynamo  # the real module: torch.optim's guards now wrap with dynamo's own disable
with_real = counts()
print(json.dumps({"imported": imported, "same": without == with_real, "ops": sum(map(len, without)),
                  "optimizer_ops": [sum("'optimizer'" in o for o in c) for c in without]}))
""")
    assert result["imported"] is False
    assert result["same"] is True
    assert result["ops"] > 100
    adam, adamw, sgd, adam16, none = result["optimizer_ops"]
    assert min(adam, adamw, sgd, adam16) > 0 and none == 0  # the optimizer steps were counted


def test_the_real_guards_are_back_after_counting():
    result = run_fresh(COUNT + """
counts()
left = "torch._dynamo" in sys.modules
import torch._dynamo
fn = torch.optim.Optimizer.zero_grad.__wrapped__
p = torch.nn.Parameter(torch.zeros(2))
torch.optim.SGD([p], lr=0.1).zero_grad()
cached = getattr(fn, "__dynamo_disable", None)
print(json.dumps({"left": left, "real": type(sys.modules["torch._dynamo"]).__name__ == "module",
                  "cached_is_fn": cached is fn, "cached": cached is not None}))
""")
    assert result == {"left": False, "real": True, "cached_is_fn": False, "cached": True}


def test_anything_else_asked_of_the_stand_in_imports_the_real_module():
    result = run_fresh("""
import json, sys
import torch
from green_estimate.counting.dynamo_free import dynamo_free
with dynamo_free() as placed:
    stand_in = sys.modules["torch._dynamo"]
    config = torch._dynamo.config  # not graph_break or disable: the real module answers
    real = sys.modules["torch._dynamo"]
print(json.dumps({"placed": placed, "replaced": real is not stand_in, "kept": sys.modules["torch._dynamo"] is real,
                  "config": hasattr(config, "cache_size_limit")}))
""")
    assert result == {"placed": True, "replaced": True, "kept": True, "config": True}


def test_no_stand_in_when_the_real_module_is_imported():
    real = importlib.import_module("torch._dynamo")
    with dynamo_free() as placed:
        assert sys.modules["torch._dynamo"] is real
    assert placed is False and sys.modules["torch._dynamo"] is real
