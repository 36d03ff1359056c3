"""Which module a backward op is counted in: the same in every process, and the right sibling."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from green_estimate.counting.mode import EnteredModules, innermost

# Query, key and value read one input that needs no gradient, so in backward all three stay entered
# until the step ends; shapes tell their ops apart: value's weight gradient is a 12×16 GEMM, and only
# query has a bias (its gradient is a sum).
SIBLINGS = textwrap.dedent("""
    import json, torch, torch.nn as nn
    from green_estimate.counting.step import count_step

    class Att(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = nn.Linear(16, 16), nn.Linear(16, 16, bias=False)
            self.value, self.head = nn.Linear(16, 12, bias=False), nn.Linear(12, 4)

        def forward(self, x):
            q, k, v = self.query(x), self.key(x), self.value(x)
            return self.head(torch.softmax(q @ k.transpose(-1, -2), -1) @ v).mean(1)

    r = count_step(Att().to("meta"), (torch.empty(2, 8, 16, device="meta"),), optimizer="sgd")
    print(json.dumps([[o.op, o.module, list(o.gemm_mnk)] for o in r.ops if o.phase == "backward"]))
""")


def backward_ops(hash_seed: int) -> list:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    out = subprocess.run([sys.executable, "-c", SIBLINGS], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_backward_ops_are_counted_in_the_same_modules_whatever_the_string_hashes():
    runs = [backward_ops(seed) for seed in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]
    ops = runs[0]
    # the right sibling: value's 12×16 weight gradient, query's bias gradient, key's 16×16 weight gradient
    assert [m for op, m, mnk in ops if op == "aten.mm" and mnk == [12, 16, 16]] == ["value"]
    assert [m for op, m, _ in ops if op == "aten.sum" and m in ("query", "key", "value")] == ["query"]
    assert sorted(m for op, m, mnk in ops if op == "aten.mm" and mnk == [16, 16, 16]) == ["key", "query"]


def test_the_innermost_module_entered_last_wins():
    parents = EnteredModules()
    for name in ("Net", "Net.block", "Net.block.query", "Net.block.key"):
        parents.add(name)
    names = [p for p in parents if p != "Global"]
    assert innermost(names, ordered=True) == "Net.block.key"
    parents.add("Net.block.query")  # entered again: now the last
    assert innermost([p for p in parents if p != "Global"], ordered=True) == "Net.block.query"
    parents.remove("Net.block.query")
    assert innermost([p for p in parents if p != "Global"], ordered=True) == "Net.block.key"
    # a plain set (what ModuleTracker resets to after backward): the greatest name, not hash order
    assert innermost(["Net.b.value", "Net.b.key", "Net.a"], ordered=False) == "Net.b.value"
