"""FLOP formulas for every aten op a training step dispatches, each declared with its layer class.

Conventions (stated in every report):

* FLOPs are 2 per multiply-accumulate, as PyTorch's ``torch.utils.flop_counter``; GEMMs,
  convolutions and attention use PyTorch's own formulas (``flop_registry``), forward and backward —
  except a grouped convolution's backward, whose weight gradient PyTorch (2.13) counts ``groups``
  times over (see :func:`.gemm.conv_backward`), and fused attention, counted causal-aware
  (:mod:`green_estimate.counting.attention`).
* Elementwise-like ops cost ``factor × elements`` of their output; a transcendental function
  (exp, log, sqrt, erf) counts as 1 FLOP per element, like an add. The factors are the arithmetic a
  straightforward kernel does; they ignore vectorisation tricks and fused multiply-adds.
* Bytes follow the roofline convention of :mod:`green_estimate.counting.tensors`.

Each formula is a small pure function of the op's arguments and output, declared in the one
registry (:mod:`green_estimate.counting.registry`) together with the layer class of the ops it
prices, one module per family: :mod:`.pointwise` (elementwise and activations), :mod:`.gemm`
(convolutions, matrix products, attention), :mod:`.layers` (norms, pooling, softmax, losses) and
:mod:`.data` (reductions, gathers and copies). Ops with no formula (and not free) are *uncounted*:
their bytes are still counted, their FLOPs are 0, and the report lists them.
"""
from __future__ import annotations

from typing import Any

from green_estimate.counting.formulas import data, gemm, layers, pointwise  # noqa: F401  (they declare the ops)
from green_estimate.counting.registry import spec
from green_estimate.counting.shapes import gemm_shape  # noqa: F401  (imported from here before the split)
from green_estimate.counting.tensors import op_bytes, output_tensors, tensor_nbytes  # noqa: F401  (likewise)


def op_flops(name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> int | None:
    """FLOPs of one aten op, or ``None`` when no formula knows it (the op is then *uncounted*)."""
    s = spec(name)
    if s is not None and s.flops is not None:  # ours, including where it replaces PyTorch's
        return int(s.flops(args, kwargs, out))
    if s is not None and s.priced_by == "attention":  # causal-aware (see counting/attention.py)
        from green_estimate.counting.attention import fused_flops

        return fused_flops(name, func, args, kwargs)
    from torch.utils.flop_counter import flop_registry

    packet = getattr(func, "overloadpacket", None)
    if packet is not None and packet in flop_registry:  # declared "pytorch", or an op PyTorch alone knows
        return int(flop_registry[packet](*args, **kwargs, out_val=out))
    return None
