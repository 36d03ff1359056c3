"""The dispatch mode that records every aten op of a step as an :class:`OpRecord`."""
from __future__ import annotations

from collections import Counter
from typing import Any

from green_estimate.counting.classes import class_of, is_free, op_name
from green_estimate.counting.formulas import op_flops
from green_estimate.counting.regions import backward_region
from green_estimate.counting.report import OpRecord
from green_estimate.counting.shadow import NOTHING, Shadows
from green_estimate.counting.shapes import conv_geometry, gemm_shape, lookup_indices
from green_estimate.counting.tensors import op_bytes, output_tensors


class EnteredModules(dict):
    """``ModuleTracker.parents`` as a set that remembers the order modules were entered in.

    In backward, ``ModuleTracker`` enters a module when its outputs' gradients are ready and leaves
    it when its inputs' are: siblings that read one input (an attention's query, key and value) stay
    entered together until the last of them is done, and a module whose inputs need no gradient is
    never left. A plain set made the op's module the one the string hashes put first — another
    module from one process to the next (``PYTHONHASHSEED``). Ordered, the innermost module entered
    last wins: the same in every process, and right where the backward pass reaches siblings one at
    a time.
    """

    def __init__(self, names: tuple[str, ...] = ("Global",)) -> None:
        super().__init__((n, None) for n in names)

    def add(self, name: str) -> None:
        self.pop(name, None)
        self[name] = None

    def remove(self, name: str) -> None:
        del self[name]


def innermost(names: list[str], ordered: bool) -> str:
    """The deepest module path of ``names``; among equally deep ones the last entered (``ordered``:
    ``names`` in the order entered), else the greatest name — never the hash order of a set."""
    if ordered:
        return max(enumerate(names), key=lambda kv: (kv[1].count("."), kv[0]))[1]
    return max(names, key=lambda p: (p.count("."), p))


def make_mode():  # the class needs torch, which this module imports lazily
    from torch.utils._python_dispatch import TorchDispatchMode

    class _CountingMode(TorchDispatchMode):
        def __init__(self, tracker: Any, root_prefix: str) -> None:
            super().__init__()
            self.tracker = tracker
            self.root_prefix = root_prefix
            self.phase = "forward"
            self.ops: list[OpRecord] = []
            self.ignored: Counter[str] = Counter()
            self.region = ""  # set by the region mode while a fused call runs (see counting/regions.py)
            self.region_nodes: dict[int, Any] = {}
            self.attention = "math"  # SDPA backend: math, or auto/flash/efficient (counting/attention.py)
            self.low_dtype: Any = None  # the autocast dtype while the forward runs under autocast
            self.attention_backends: dict[str, int] = {}
            self.shadows = Shadows()  # CPU values of small integer meta tensors (counting/shadow.py)
            self.target = "cpu"  # the device kind counted for (counting/step.py sets it)

        def _module(self) -> str:
            parents = [p for p in self.tracker.parents if p != "Global"]
            if not parents:
                return ""
            leaf = innermost(parents, ordered=isinstance(self.tracker.parents, EnteredModules))
            return leaf[len(self.root_prefix):] if leaf.startswith(self.root_prefix) else leaf

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            name = op_name(func)
            known = self.shadows.before(name, args, kwargs)
            if known is not NOTHING and (name != "_to_copy" or self.target == "cpu"):
                # values of indices followed on meta (counting/shadow.py): `.item()` dispatches on a CPU
                # too, `.cpu()` of a CPU tensor does not (from a GPU it is a copy: recorded below)
                if is_free(name):
                    self.ignored[f"aten.{name}"] += 1
                return known
            out = known if known is not NOTHING else func(*args, **kwargs)
            out = _as_kernels_return(name, args, out)
            self.shadows.after(func, name, args, kwargs, out)
            if name == "_to_copy" and self.target == "cpu" and _moved_to_meta(args, out):
                return out  # a CPU tensor's `.to(device)` in a step on a CPU: no copy, no dispatch
            if is_free(name):
                self.ignored[f"aten.{name}"] += 1
                return out
            flops = op_flops(name, func, args, kwargs, out)
            read, written = op_bytes(name, args, kwargs, out)
            mnk, depthwise, cin = gemm_shape(name, args, out)
            dims, stride = conv_geometry(name, args)
            region = self.region or (backward_region(self) if self.phase == "backward" else "")
            self.ops.append(OpRecord(
                op=f"aten.{name}", cls=class_of(name), phase=self.phase, module=self._module(),
                flops=flops or 0, bytes_read=read, bytes_written=written, counted=flops is not None,
                outputs=max(1, len(output_tensors(out))), min_dim=min(mnk), gemm_mnk=mnk, depthwise=depthwise,
                conv_cin=cin, fused=region, dtype=_compute_dtype(args, out), indices=lookup_indices(name, args),
                conv_dims=dims, conv_stride=stride,
            ))
            return out

    return _CountingMode


def _as_kernels_return(name: str, args: tuple, out: Any) -> Any:
    """``out`` in the dtypes the device kernels return where the meta kernel returns others.

    ``native_group_norm_backward`` of a bfloat16 input with float32 weights (a ``GroupNorm`` under CPU
    autocast, which runs it in the input's dtype) returns the input's gradient in float32 on meta
    (torch 2.13) but in bfloat16 on a CPU, so on meta autograd cast that gradient back: a counted
    ``_to_copy`` of a whole activation that no real step runs (found matching the counted ops of the
    accuracy benchmark's bf16 steps to real ones after docs/performance.md's run BP).
    """
    if name == "native_group_norm_backward" and isinstance(out, (tuple, list)) and out and out[0] is not None:
        x = args[1]
        if out[0].dtype != x.dtype and out[0].device.type == "meta":
            import torch

            return (torch.empty_like(out[0], dtype=x.dtype), *out[1:])
    return out


def _moved_to_meta(args: tuple, out: Any) -> bool:
    """Whether a ``_to_copy`` only moved a CPU tensor to the meta device (the device counting runs on)."""
    import torch

    src = args[0] if args else None
    return isinstance(src, torch.Tensor) and isinstance(out, torch.Tensor) and src.device.type == "cpu" \
        and out.device.type == "meta" and out.dtype == src.dtype


def _compute_dtype(args: tuple, out: Any) -> str:
    """The dtype an op computes in: its first floating-point input, else its first output."""
    import torch

    def first(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return obj if obj.is_floating_point() else None
        if isinstance(obj, (list, tuple)):
            for o in obj:
                t = first(o)
                if t is not None:
                    return t
        return None

    t = first(args)
    if t is None:
        t = first(out)
    return str(t.dtype).replace("torch.", "") if t is not None else ""


class _NoModules:
    parents = {"Global"}


def record_ops(fn: Any) -> tuple[list[OpRecord], dict[str, int]]:
    """Run ``fn()`` under the counter and return its op records and ignored (free) ops.

    Calibration uses this on each microbenchmark, so its features come from the same counter.
    """
    mode = make_mode()(_NoModules(), "")
    with mode:
        fn()
    return mode.ops, dict(mode.ignored)
