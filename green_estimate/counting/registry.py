"""The one op registry: each aten op the counter prices, declared once with its class and FLOP formula.

An entry (:class:`OpSpec`) says which layer class an op belongs to and where its FLOPs come from:

* ``formula`` — a small pure function of the op's arguments and output, written in
  :mod:`green_estimate.counting.formulas` and registered with :func:`op`;
* ``pytorch`` — PyTorch's own formula (``torch.utils.flop_counter.flop_registry``: GEMMs,
  convolutions, attention);
* ``attention`` — the fused attention kernels, priced by
  :func:`green_estimate.counting.attention.fused_flops` (causal-aware);
* ``uncounted`` — a known op with no FLOP formula yet: its bytes are counted, its FLOPs are 0, and
  reports list it as uncounted.

Declarations live in :mod:`green_estimate.counting.formulas`, one per op family, e.g.::

    @op("norm", "native_layer_norm", "native_group_norm")
    def _norm_forward(args, kwargs, out): ...

In-place and ``_foreach_`` twins of a declared op (``add_``, ``_foreach_add``) share its class when
they are not declared themselves; they share its formula only when declared (the pointwise
families declare all four spellings).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

FlopFormula = Callable[[tuple, dict, Any], int]

#: The layer classes, in report order. ``other`` is the class of every op in no declaration.
CLASSES: tuple[str, ...] = (
    "conv", "linear", "relu", "attention", "norm", "pool", "softmax", "loss",
    "reduction", "embedding", "elementwise", "copy", "other",
)
#: Where an op's FLOPs come from (see the module docstring).
PRICED_BY: tuple[str, ...] = ("formula", "pytorch", "attention", "uncounted")


@dataclass(frozen=True)
class OpSpec:
    """One declared op: its layer class and how its FLOPs are priced.

    Attributes:
        cls: the layer class (one of :data:`CLASSES`).
        priced_by: one of :data:`PRICED_BY`.
        flops: the formula ``(args, kwargs, out) -> FLOPs`` when ``priced_by`` is ``formula``.
    """

    cls: str
    priced_by: str
    flops: FlopFormula | None = None


_OPS: dict[str, OpSpec] = {}


def declare(cls: str, *names: str, priced_by: str, flops: FlopFormula | None = None) -> None:
    """Declare ops of class ``cls`` priced by ``priced_by`` (each name once, ever)."""
    if cls not in CLASSES or cls == "other":
        raise ValueError(f"unknown layer class {cls!r}")
    if priced_by not in PRICED_BY or (flops is None) == (priced_by == "formula"):
        raise ValueError(f"{names[:1]}: a formula is needed exactly when priced_by is 'formula', got {priced_by!r}")
    for n in names:
        if n in _OPS:
            raise ValueError(f"aten op {n!r} is declared twice")
        _OPS[n] = OpSpec(cls, priced_by, flops)


def op(cls: str, *names: str) -> Callable[[FlopFormula], FlopFormula]:
    """Decorator: declare ``names`` as ops of class ``cls`` priced by the decorated formula."""

    def register(fn: FlopFormula) -> FlopFormula:
        declare(cls, *names, priced_by="formula", flops=fn)
        return fn

    return register


def twins(*names: str) -> tuple[str, ...]:
    """Every spelling of pointwise ops: ``add``, ``add_``, ``_foreach_add``, ``_foreach_add_``."""
    return tuple(s for n in names for s in (n, n + "_", "_foreach_" + n, "_foreach_" + n + "_"))


def declared() -> dict[str, OpSpec]:
    """Every declared op name and its entry (a copy)."""
    return dict(_OPS)


def spec(name: str) -> OpSpec | None:
    """The entry declared under exactly ``name``, or ``None``."""
    return _OPS.get(name)


def base_name(name: str) -> str:
    """Strip the ``_foreach_`` prefix so foreach kernels class like their single-tensor twins."""
    if name.startswith("_foreach_"):
        return name[len("_foreach_"):]
    return name


def class_of(name: str) -> str:
    """The layer class of an aten op name (``other`` when unknown)."""
    if name in _OPS:
        return _OPS[name].cls
    b = base_name(name)
    if b in _OPS:
        return _OPS[b].cls
    if b.endswith("_") and b[:-1] in _OPS:  # in-place twin of a known op
        return _OPS[b[:-1]].cls
    return "other"


# The declarations: importing them here means any lookup above sees every op, whichever module was
# imported first (they import this module's ``op`` and ``declare``, defined above).
from green_estimate.counting import formulas as _formulas  # noqa: E402,F401
