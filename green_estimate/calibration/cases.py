"""Microbenchmark cases: what each one runs, and its features from the counter.

A case is one op's training-step work at one size: forward and backward (gradients set to ``None``
before each iteration, as ``zero_grad()`` does), one optimizer update, or — for elementwise ops,
sums and copies, whose backward is made of other elementwise ops — the forward op alone. The same function builds
it on the measured device and on the meta device, where the counter reads its features.
"""
from __future__ import annotations

import itertools
import random
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject allows it)
    import tomli as tomllib


@dataclass(frozen=True)
class Case:
    """One microbenchmark: a kind of op (``conv2d``), its class, and its parameters."""

    cls: str
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def id(self) -> str:
        return f"{self.kind}:" + ",".join(f"{k}={v}" for k, v in self.params)

    def p(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Suite:
    settings: dict[str, Any]
    cases: list[Case]


def load_suite(path: Path | None = None, *, quick: bool = False, gpu: bool = False) -> Suite:
    """Read the suite (the shipped ``suite.toml``, or ``suite_gpu.toml`` for a GPU) and draw its cases, seeded."""
    if path is None:
        text = (resources.files("green_estimate.calibration") / ("suite_gpu.toml" if gpu else "suite.toml")).read_text()
    else:
        text = Path(path).read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"suite file is not valid TOML: {e}") from e
    settings = dict(data.get("settings", {}))
    rng = random.Random(settings.get("seed", 0))
    cases: list[Case] = []
    for group in data.get("group", []):
        kind = group["kind"]
        if kind not in BUILDERS:
            raise ConfigError(f"suite group kind {kind!r} is unknown: use one of {', '.join(sorted(BUILDERS))}")
        grid = group["grid"]
        keys = sorted(grid)
        points = sorted({tuple(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))})
        n = int(group["quick" if quick else "full"])
        chosen = points if n >= len(points) else rng.sample(points, n)
        cases += [Case(group["class"], kind, pt) for pt in chosen]
    return Suite(settings, cases)


# --- builders: (params, device) -> a callable running one iteration --------------------------

def _leaf(shape: tuple[int, ...], device: str, grad: bool = True) -> Any:
    import torch

    x = torch.randn(shape, device=device) if device != "meta" else torch.empty(shape, device="meta")
    return x.requires_grad_(grad)


def _fwd_bwd(module: Any, inputs: list, device: str) -> Callable[[], None]:
    """forward, then backward of a fixed upstream gradient; the module's and inputs' grads cleared."""
    return _functional(module, inputs, device, params=list(module.parameters()))


def _functional(f: Callable[..., Any], inputs: list, device: str, scalar: bool = False,
                params: list | None = None) -> Callable[[], None]:
    """``f(*inputs)`` then its backward; gradients set to ``None`` before each iteration, as
    ``zero_grad()`` does. A scalar output is back-propagated from 1, any other from ones."""
    import torch

    leaves = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad] + (params or [])
    with torch.no_grad():
        probe = f(*inputs)
    grad_out = None if scalar else torch.ones_like(probe)

    def step() -> None:
        for t in leaves:
            t.grad = None
        out = f(*inputs)
        out.backward(grad_out)

    return step


def _forward_only(f: Callable[..., Any], inputs: list) -> Callable[[], None]:
    """Just the op: its backward ops (if any) are other ops, calibrated by their own cases."""
    import torch

    def step() -> None:
        with torch.no_grad():
            f(*inputs)

    return step


def _conv2d(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    cin = p["cin"]
    cout, groups = (cin, cin) if p["depthwise"] else (p["cout"], 1)
    conv = nn.Conv2d(cin, cout, p["kernel"], stride=p["stride"], padding=p["kernel"] // 2, groups=groups, device=device)
    return _fwd_bwd(conv, [_leaf((p["batch"], cin, p["hw"], p["hw"]), device, p["input_grad"])], device)


def _linear(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    lin = nn.Linear(p["fin"], p["fout"], device=device)
    return _fwd_bwd(lin, [_leaf((p["batch"], p["fin"]), device, p["input_grad"])], device)


def _relu(p: dict, device: str) -> Callable[[], None]:
    import torch

    return _functional(torch.relu, [_leaf((p["numel"],), device)], device)


def _batchnorm2d(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    bn = nn.BatchNorm2d(p["channels"], device=device).train()
    return _fwd_bwd(bn, [_leaf((p["batch"], p["channels"], p["hw"], p["hw"]), device)], device)


def _layernorm(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    return _fwd_bwd(nn.LayerNorm(p["width"], device=device), [_leaf((p["rows"], p["width"]), device)], device)


def _maxpool2d(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    return _fwd_bwd(nn.MaxPool2d(2), [_leaf((p["batch"], p["channels"], p["hw"], p["hw"]), device)], device)


def _adaptive_avgpool2d(p: dict, device: str) -> Callable[[], None]:
    import torch.nn as nn

    # output 2×2: an output of 1×1 dispatches as a mean (class reduction), not as pooling
    return _fwd_bwd(nn.AdaptiveAvgPool2d(2), [_leaf((p["batch"], p["channels"], p["hw"], p["hw"]), device)], device)


def _binary(p: dict, device: str) -> Callable[[], None]:
    import torch

    f = {"add": torch.add, "mul": torch.mul, "sqrt": lambda a, b: torch.sqrt(a),
         "addcmul": lambda a, b: torch.addcmul(a, a, b, value=0.5)}[p["op"]]
    return _forward_only(f, [_leaf((p["numel"],), device, False), _leaf((p["numel"],), device, False)])


def _optimizer(p: dict, device: str) -> Callable[[], None]:
    import torch

    from green_estimate.counting.counter import make_optimizer

    sizes = [p["params"] // p["tensors"]] * p["tensors"]
    params = [torch.nn.Parameter(torch.zeros(s, device=device)) for s in sizes]
    for t in params:
        t.grad = torch.zeros_like(t)
    opt = make_optimizer(p["optimizer"], params)
    opt.step()  # create the state outside the measurement, as a steady-state step has it
    return opt.step


def _log_softmax(p: dict, device: str) -> Callable[[], None]:
    import torch

    return _functional(lambda x: torch.log_softmax(x, 1), [_leaf((p["rows"], p["classes"]), device)], device)


def _nll_loss(p: dict, device: str) -> Callable[[], None]:
    import torch

    target = torch.zeros(p["rows"], dtype=torch.long, device=device)
    return _functional(lambda x: torch.nn.functional.nll_loss(x, target), [_leaf((p["rows"], p["classes"]), device)],
                       device, scalar=True)


def _sum(p: dict, device: str) -> Callable[[], None]:
    return _forward_only(lambda x: x.sum(dim=-1), [_leaf((p["rows"], p["width"]), device, False)])


def _cat(p: dict, device: str) -> Callable[[], None]:
    import torch

    half = p["numel"] // 2
    return _forward_only(lambda a, b: torch.cat([a, b]), [_leaf((half,), device, False), _leaf((half,), device, False)])


def _embedding(p: dict, device: str) -> Callable[[], None]:
    import torch
    import torch.nn as nn

    emb = nn.Embedding(p["vocab"], p["dim"], device=device)
    idx = (torch.randint(0, p["vocab"], (p["tokens"],), device=device) if device != "meta"
           else torch.zeros(p["tokens"], dtype=torch.long, device="meta"))
    return _fwd_bwd(emb, [idx], device)


def _chain(p: dict, device: str) -> Callable[[], None]:
    """``depth`` ReLUs on a 16-element tensor, forward and one backward: the harness's own cost.

    Time = (per backward() call) + depth × (per-op cost of a tiny ReLU and its backward): fitting
    over depths separates the once-per-step backward-call overhead from per-op costs.
    """
    import torch

    def f(x: Any) -> Any:
        for _ in range(p["depth"]):
            x = torch.relu(x)
        return x

    return _functional(f, [_leaf((16,), device)], device)


def random_network(seed: int, family: str, device: str) -> tuple[Any, tuple[int, ...]]:
    """A seeded random CNN or MLP of the kinds people train, and its per-sample input shape.

    Used by the ``step`` cases: whole training steps whose ops run in context (activations written
    by one op and read by the next, the allocator's real pattern), unlike one op repeated alone.
    """
    import torch.nn as nn

    rng = random.Random(seed)
    layers: list[Any] = []
    if family == "cnn":
        ch, hw = rng.choice([1, 3]), rng.choice([16, 28, 32])
        shape = (ch, hw, hw)
        for _ in range(rng.randint(1, 4)):
            out, k = rng.choice([6, 8, 12, 16, 24, 32, 48, 64]), rng.choice([1, 3, 3, 5])
            layers.append(nn.Conv2d(ch, out, k, padding=k // 2, device=device))
            if rng.random() < 0.6:
                layers.append(nn.BatchNorm2d(out, device=device))
            if rng.random() < 0.8:
                layers.append(nn.ReLU())
            if hw >= 4 and rng.random() < 0.7:
                layers.append(nn.MaxPool2d(2))
                hw //= 2
            ch = out
        layers.append(nn.Flatten())
        width = ch * hw * hw
    else:
        width = rng.choice([64, 256, 784, 1024, 3072])
        shape = (width,)
    for _ in range(rng.randint(1, 3) if family == "cnn" else rng.randint(1, 4)):
        out = rng.choice([32, 64, 128, 256, 512, 1024, 2048])
        layers.append(nn.Linear(width, out, device=device))
        if rng.random() < 0.6:
            layers.append(nn.ReLU())
        width = out
    layers.append(nn.Linear(width, 10, device=device))
    return nn.Sequential(*layers), shape


def _step(p: dict, device: str) -> Callable[[], None]:
    """One whole training step (forward, cross-entropy, backward, optimizer) of a random network."""
    import torch

    from green_estimate.counting.counter import make_optimizer

    model, shape = random_network(p["seed"], p["family"], device)
    model.train()
    x = _leaf((p["batch"], *shape), device, False)
    y = torch.zeros(p["batch"], dtype=torch.long, device=device)
    opt = make_optimizer(p["optimizer"], list(model.parameters()))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    step()  # creates the optimizer state, as in any step after the first
    return step


BUILDERS: dict[str, Callable[[dict, str], Callable[[], None]]] = {
    "conv2d": _conv2d, "linear": _linear, "relu": _relu, "batchnorm2d": _batchnorm2d, "layernorm": _layernorm,
    "maxpool2d": _maxpool2d, "adaptive_avgpool2d": _adaptive_avgpool2d, "binary": _binary,
    "optimizer": _optimizer, "log_softmax": _log_softmax, "nll_loss": _nll_loss, "sum": _sum, "cat": _cat,
    "embedding": _embedding, "chain": _chain, "step": _step,
}

# Kinds whose iteration calls backward() once (the others run forward ops or an optimizer step).
FORWARD_ONLY_KINDS = frozenset({"binary", "optimizer", "sum", "cat"})
# Groups that are not one class's microbenchmarks: fitted separately (see calibration/fit.py).
SPECIAL_CLASSES = frozenset({"harness", "step"})


def build_case(case: Case, device: str) -> Callable[[], None]:
    """One iteration of ``case`` on ``device`` (``cpu``, ``cuda:0`` or ``meta``)."""
    return BUILDERS[case.kind](case.p(), device)


def case_ops(case: Case) -> list[dict]:
    """The case's ops as the counter sees them on the meta device: ``[{op, cls, flops, bytes}]``."""
    from green_estimate.counting.counter import record_ops

    step = build_case(case, "meta")
    ops, _ = record_ops(step)
    return [{"op": o.op, "cls": o.cls, "flops": o.flops, "bytes": o.nbytes, "outputs": o.outputs} for o in ops]
