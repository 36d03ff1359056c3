"""The values of small integer tensors on the meta device, kept on the CPU beside them while counting.

A meta tensor has a shape but no values, and a few model-side idioms need the values of one: packing
a batch of sequences that are not sorted by length (``pack_padded_sequence(..., enforce_sorted=False)``)
sorts the lengths on the CPU, moves the sorting indices to the input's device and inverts them there,
and ``pad_packed_sequence`` copies the inverse back to the CPU to reorder the lengths. On meta that
last copy fails ("Cannot copy out of meta tensor"), and the whole model had to be counted on real CPU
tensors. :class:`Shadows` follows such indices instead:

- an integer tensor copied from the CPU to meta keeps its CPU values as a shadow, and so does a
  step's own integer input (token ids a model computes its sequence lengths from, say:
  :func:`remember`);
- from then on, an op on meta whose tensor inputs all have shadows (a factory such as ``arange`` has
  none) runs on the shadows too, for a small integer result only;
- copying a shadowed tensor back to the CPU (``.cpu()``), or reading it (``.item()``), returns its
  shadow, as the same step on CPU tensors would have it.
"""
from __future__ import annotations

from typing import Any

# Larger integer tensors are not followed (token ids, say): their values are never copied back
MAX_ELEMENTS = 1 << 16

NOTHING = object()

# The values of the step's own integer inputs (token ids, lengths), which the counter makes on meta
# from the CPU tensors a model file gives (counting/inputs.py): by id, with a weak reference to the
# meta tensor (a dead one is dropped at the next entry)
_INPUTS: dict[int, tuple[Any, Any]] = {}


def remember(meta: Any, cpu: Any) -> None:
    """Keep the values ``cpu`` of input ``meta`` (a small integer tensor) for every count that uses it."""
    import weakref

    if not _integer(cpu):
        return
    for key in [k for k, (ref, _) in _INPUTS.items() if ref() is None]:
        del _INPUTS[key]
    _INPUTS[id(meta)] = (weakref.ref(meta), cpu.detach().clone())


def _integer(t: Any) -> bool:
    import torch

    return isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex() \
        and t.numel() <= MAX_ELEMENTS


class Shadows:
    """CPU values of meta tensors, by the meta tensor. A weak reference to it tells a reused ``id`` apart;
    a strong one would change the count: a tensor a dispatch mode returns while something else holds it
    is returned as a ``detach``ed alias, one more dispatch."""

    def __init__(self) -> None:
        self._cpu: dict[int, tuple[Any, Any]] = {}

    def get(self, t: Any) -> Any:
        """The CPU values of meta tensor ``t`` (a step's input among them: :func:`remember`), or ``None``."""
        entry = self._cpu.get(id(t)) or _INPUTS.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def _keep(self, meta: Any, cpu: Any) -> None:
        import weakref

        self._cpu[id(meta)] = (weakref.ref(meta), cpu)

    def before(self, name: str, args: tuple, kwargs: dict) -> Any:
        """A shadowed meta tensor copied to the CPU (``.cpu()``), or read as a number (``.item()``): its
        values; else :data:`NOTHING`."""
        if name not in ("_to_copy", "_local_scalar_dense") or not (self._cpu or _INPUTS) or not args:
            return NOTHING
        cpu = self.get(args[0])
        if cpu is None:
            return NOTHING
        if name == "_local_scalar_dense":
            return cpu.item()
        device = kwargs.get("device")
        if device is None or getattr(device, "type", str(device)) != "cpu":
            return NOTHING
        return cpu.clone()

    def after(self, func: Any, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        """Follow ``out``: a small integer tensor copied from the CPU to meta, or computed on meta from
        shadowed tensors only."""
        if name != "_to_copy" and not self._cpu and not _INPUTS:  # the usual case: nothing to follow
            return
        import torch

        if not isinstance(out, torch.Tensor) or out.device.type != "meta" or not _integer(out):
            return
        if name == "_to_copy" and args and isinstance(args[0], torch.Tensor) and args[0].device.type == "cpu":
            self._keep(out, args[0].detach().clone())
            return
        flat = [x for a in (*args, *kwargs.values()) for x in (a if isinstance(a, (list, tuple)) else (a,))]
        metas = [a for a in flat if isinstance(a, torch.Tensor) and a.device.type == "meta"]
        if any(self.get(a) is None for a in metas):  # a factory (``arange`` on meta) has none: it is followed
            return

        def cpu(a: Any) -> Any:
            if isinstance(a, (list, tuple)):
                return type(a)(cpu(x) for x in a)
            if isinstance(a, torch.Tensor) and a.device.type == "meta":
                return self.get(a)
            if isinstance(a, torch.device) and a.type == "meta":
                return torch.device("cpu")
            return a

        try:  # (a dispatch mode's handler runs with the mode off: this runs on the CPU, uncounted)
            result = func(*[cpu(a) for a in args], **{k: cpu(v) for k, v in kwargs.items()})
        except Exception:  # noqa: BLE001 - a shadow is a convenience: without it the copy back fails as before
            return
        if isinstance(result, torch.Tensor) and result.device.type == "cpu":
            self._keep(out, result)
