"""The tensors an op reads and writes, and their bytes (the roofline convention).

Bytes are the bytes of every tensor read plus every tensor written, each tensor counted once per op,
capped at the size of its storage (so a broadcast view counts what is stored, not what is seen).
Caches are ignored: an op that reads its input twice counts once.
"""
from __future__ import annotations

from typing import Any

# In-place ops that overwrite their first argument without reading it.
_OVERWRITES_SELF = frozenset({"copy_", "fill_", "zero_", "uniform_", "normal_", "bernoulli_", "random_"})


def tensors_in(obj: Any) -> list:
    """Every tensor in a (nested) argument structure."""
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out: list = []
        for o in obj:
            out.extend(tensors_in(o))
        return out
    if isinstance(obj, dict):
        out = []
        for o in obj.values():
            out.extend(tensors_in(o))
        return out
    return []


def tensor_nbytes(t: Any) -> int:
    """Bytes a kernel touches for tensor ``t``: its logical size, capped by its storage."""
    logical = t.numel() * t.element_size()
    try:
        stored = t.untyped_storage().nbytes() - t.storage_offset() * t.element_size()
    except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. some subclasses)
        return logical
    return min(logical, max(stored, 0))


def output_tensors(out: Any) -> list:
    """The tensors an op returned (``None`` entries, e.g. an input gradient not needed, excluded)."""
    return tensors_in(out)


def numel(obj: Any) -> int:
    """Elements of every tensor in ``obj``."""
    return sum(t.numel() for t in tensors_in(obj))


def first_numel(obj: Any) -> int:
    """Elements of the first tensor in ``obj`` (0 when there is none)."""
    ts = tensors_in(obj)
    return ts[0].numel() if ts else 0


def _unique_nbytes(ts: list) -> int:
    seen: set[int] = set()
    total = 0
    for t in ts:
        if id(t) not in seen:
            seen.add(id(t))
            total += tensor_nbytes(t)
    return total


def op_bytes(name: str, args: tuple, kwargs: dict, out: Any) -> tuple[int, int]:
    """Bytes read and bytes written by one op (roofline convention, see module docstring)."""
    reads = tensors_in(args) + tensors_in(kwargs)
    if name in _OVERWRITES_SELF or (name.startswith("_foreach_") and name[len("_foreach_"):] in _OVERWRITES_SELF):
        ids = {id(t) for t in tensors_in(args[:1])}
        reads = [t for t in reads if id(t) not in ids]
    written = tensors_in(out) if out is not None else tensors_in(args[:1])
    return _unique_nbytes(reads), _unique_nbytes(written)
