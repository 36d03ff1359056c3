"""Fused regions: calls whose ops the meta device decomposes but a real device runs as a few kernels.

On the meta device ``scaled_dot_product_attention`` runs its math decomposition (matmuls, softmax)
unless the step is counted for a CUDA GPU, where it runs the fused kernel that GPU would (see
:mod:`green_estimate.counting.attention`); a GRU or LSTM runs a few GEMMs and a handful of
elementwise ops per time step, forward and backward. A GPU runs fused attention and recurrent
kernels instead, and a CPU a fused attention kernel and one oneDNN kernel per (unpacked) LSTM
layer, so those counted ops do not exist there one for one. A CPU runs a GRU or plain RNN (and a
packed LSTM) as a loop of cells, and a step counted for a CPU counts that loop as the CPU runs it
(:mod:`green_estimate.counting.cpu_recurrence`); it stays a region all the same, ``rnn``, with its
own in-step scales. The counter marks every op of such a call — forward ops while the call runs,
and backward ops whose autograd node the call created — with the region's name, so calibration can
leave them out of the per-op fits and give them an in-context scale of their own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator

RNN_FUNCTIONS = ("gru", "lstm", "rnn_tanh", "rnn_relu")  # what nn.GRU, nn.LSTM and nn.RNN call in torch._VF


def _grad_fns(obj: Any) -> list:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj.grad_fn] if obj.grad_fn is not None else []
    if isinstance(obj, (tuple, list)):
        return [g for o in obj for g in _grad_fns(o)]
    return []


def nodes_between(outputs: Any, inputs: Any) -> list:
    """The autograd nodes a call created: reachable from its outputs, stopping at its inputs' nodes
    and at parameters' gradient accumulators."""
    stop = {id(g) for g in _grad_fns(inputs)}
    seen: dict[int, Any] = {}
    todo = _grad_fns(outputs)
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen or id(node) in stop or type(node).__name__ == "AccumulateGrad":
            continue
        seen[id(node)] = node
        todo.extend(n for n, _ in node.next_functions)
    return list(seen.values())


def _enter(counting: Any, region: str, func: Any, args: tuple, kwargs: dict) -> Any:
    counting.region = region
    try:
        out = func(*args, **kwargs)
    finally:
        counting.region = ""
    for node in nodes_between(out, (args, list(kwargs.values()))):
        counting.region_nodes[id(node)] = (node, region)
    return out


@contextmanager
def fused_regions(counting: Any, target: str = "cpu") -> Iterator[None]:
    """While counting, mark the ops of every fused call (see the module docstring).

    The functions are wrapped where PyTorch's own modules look them up at call time:
    ``torch.nn.functional.scaled_dot_product_attention`` (which ``nn.MultiheadAttention`` and most
    model code call) and ``torch._VF.gru``/``lstm``/``rnn_tanh``/``rnn_relu`` (which ``nn.GRU``,
    ``nn.LSTM`` and ``nn.RNN`` call). A wrapper, unlike a TorchFunctionMode, costs nothing on the
    thousands of other calls a step makes. Everything is restored on exit. Counted for a CPU
    ``target``, a packed LSTM or one with a projection is an ``rnn`` region: a CPU runs it as a loop of
    cells, as a GRU (:func:`green_estimate.counting.cpu_recurrence.looped_lstm`).
    """
    import torch
    import torch.nn.functional as F

    from green_estimate.counting.cpu_recurrence import looped_lstm

    def marked(region: str, original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if counting.region:
                return original(*args, **kwargs)
            here = "rnn" if region == "lstm" and target == "cpu" and looped_lstm(args, kwargs) else region
            return _enter(counting, here, original, args, kwargs)

        return call

    def attention(original: Any) -> Any:
        # counted for a CUDA GPU: the fused kernel it would run (counting/attention.py); else the math
        backend = getattr(counting, "attention", "math")
        from green_estimate.counting.attention import run_sdpa

        def fused(*args: Any, **kwargs: Any) -> Any:
            out, used = run_sdpa(original, args, kwargs, backend, getattr(counting, "low_dtype", None))
            counting.attention_backends[used] = counting.attention_backends.get(used, 0) + 1
            return out

        def call(*args: Any, **kwargs: Any) -> Any:
            if counting.region:
                return original(*args, **kwargs)
            return _enter(counting, "attention", fused, args, kwargs)

        return call

    patches = [(F, "scaled_dot_product_attention", "attention")]
    # an LSTM runs as one oneDNN kernel each way on a CPU, a GRU or plain RNN as a loop of cells:
    # their in-step scales differ, so an LSTM is a region of its own
    patches += [(torch._VF, name, "lstm" if name == "lstm" else "rnn") for name in RNN_FUNCTIONS]
    saved = []
    try:
        for owner, name, region in patches:
            had = name in vars(owner)
            original = getattr(owner, name)
            saved.append((owner, name, had, original))
            setattr(owner, name, attention(original) if region == "attention" else marked(region, original))
        yield
    finally:
        for owner, name, had, original in reversed(saved):
            if had:
                setattr(owner, name, original)
            else:
                delattr(owner, name)


@contextmanager
def device_dropout(target: str) -> Iterator[None]:
    """While counting for a CUDA target, dropout runs as CUDA runs it: one fused op each way.

    On a CUDA tensor ``aten::dropout`` in training (``0 < p < 1``, a non-empty input) calls
    ``native_dropout`` (output and mask in one kernel) and its backward ``native_dropout_backward``;
    on the meta device and the CPU it is ``bernoulli_``, ``div_`` and ``mul`` forward and a ``mul``
    backward. ``torch._VF.dropout`` (what ``F.dropout`` and ``nn.Dropout`` call) is wrapped to take the
    fused path, so a GPU step's op list — and its profiler events, matched one for one in
    calibration — are the ones CUDA runs. In-place and feature dropout have no fused path on CUDA
    either and are left as they are. A CPU target changes nothing.
    """
    import torch

    if target != "cuda":
        yield
        return
    original = torch._VF.dropout
    had = "dropout" in vars(torch._VF)

    def dropout(input: Any, p: float, train: bool) -> Any:
        if train and 0 < p < 1 and input.numel() > 0:
            return torch.native_dropout(input, p, train)[0]
        return original(input, p, train)

    torch._VF.dropout = dropout
    try:
        yield
    finally:
        if had:
            torch._VF.dropout = original
        else:
            delattr(torch._VF, "dropout")


def backward_region(counting: Any) -> str:
    """The region of the autograd node running now (``""`` outside backward or outside any region)."""
    import torch

    node = torch._C._current_autograd_node()
    if node is None:
        return ""
    hit = counting.region_nodes.get(id(node))
    return hit[1] if hit is not None and hit[0] is node else ""


# The groups a calibrated step model gives an in-step scale each: ops outside fused regions; of the
# ops of GRUs and plain RNNs, the part of their priced time that their class models charge per op
# (the ``const`` and ``backward_const`` terms) and the rest; of an LSTM's ops, the FLOP terms of
# their price alone; attention's math. On a CPU an LSTM layer runs as one oneDNN kernel each way:
# the per-op and per-byte costs of the cell ops the meta device counts per time step are not paid,
# and what is left scales with the GEMMs' FLOPs (docs/calibration.md). A GRU runs as separate ops.
SCALE_GROUPS = ("op", "rnn_var", "rnn_fixed", "lstm_flops", "attention")
# Profiles fitted before that split scale a recurrent region's GEMMs and its other ops instead
# (groups rnn_linear, rnn_other, lstm_linear, lstm_other: see scale_parts' ``split_by_class``).
# A profile fitted before a group existed prices that group's ops with the scale of this one.
SCALE_FALLBACK = {"lstm_linear": "rnn_linear", "lstm_other": "rnn_other"}
FIXED_FEATURES = frozenset({"const", "backward_const"})  # the per-op terms of a class model


def region(op: Any) -> str:
    """The scale region of an :class:`~green_estimate.counting.report.OpRecord`: ``op`` (no fused
    region), ``rnn``, ``lstm`` or ``attention``."""
    if not op.fused:
        return "op"
    return op.fused if op.fused in ("rnn", "lstm") else "attention"


def scale_parts(ops: Iterable[Any], split_by_class: bool = False
                ) -> list[tuple[list, tuple[tuple[str, str | None], ...]]]:
    """``ops`` split into parts, each with the scale groups that price it: ``(its ops, ((group, terms), ...))``.

    ``terms`` says which terms of the ops' class model the group's scale multiplies: ``None`` all,
    ``"fixed"`` those of :data:`FIXED_FEATURES`, ``"var"`` the others, ``"flops"`` the FLOP terms
    (:data:`~green_estimate.features.FLOP_FEATURES`). A GRU's ops are priced by two groups, one per
    part of their terms; an LSTM's by one, its FLOP terms (:data:`SCALE_GROUPS`). With
    ``split_by_class`` (profiles made before, whose groups are ``rnn_linear``, ``rnn_other``,
    ``lstm_linear`` and ``lstm_other``) a region's linear ops are one part and the rest another,
    every term priced.
    """
    by: dict[str, list] = {}
    for op in ops:
        by.setdefault(region(op), []).append(op)
    out: list[tuple[list, tuple[tuple[str, str | None], ...]]] = []
    for reg, part in by.items():
        if reg not in ("rnn", "lstm"):
            out.append((part, ((reg, None),)))
        elif split_by_class:
            for half in ("linear", "other"):
                sub = [o for o in part if (o.cls == "linear") == (half == "linear")]
                if sub:
                    out.append((sub, ((f"{reg}_{half}", None),)))
        elif reg == "lstm":
            out.append((part, (("lstm_flops", "flops"),)))
        else:
            out.append((part, (("rnn_var", "var"), ("rnn_fixed", "fixed"))))
    return out


def in_terms(feature: str, terms: str | None) -> bool:
    """Whether a class model's ``feature`` is among ``terms`` (see :func:`scale_parts`)."""
    if terms is None:
        return True
    if terms == "flops":
        from green_estimate.features import FLOP_FEATURES

        return feature in FLOP_FEATURES
    return (feature in FIXED_FEATURES) == (terms == "fixed")
