"""Shape descriptors: the GEMM a matrix product or convolution runs, which tells how efficiently it can run,
and the indices an embedding op looks up."""
from __future__ import annotations

import math
from typing import Any

_GEMMS = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm", "_scaled_mm"})
_CONVS = frozenset({"convolution", "convolution_backward", "_convolution", "convolution_overrideable",
                    "convolution_backward_overrideable"})
_NONE: tuple[tuple[int, int, int], bool, int] = ((0, 0, 0), False, 0)
# Embedding lookups and their gradients: ``(weight or grad, indices, ...)``, the indices second.
_LOOKUPS = frozenset({"embedding", "embedding_dense_backward", "embedding_backward", "_embedding_bag",
                      "_embedding_bag_forward_only", "_embedding_bag_backward", "_embedding_bag_dense_backward",
                      "_embedding_bag_sparse_backward"})


def shape_of(t: Any) -> tuple[int, ...]:
    """A tensor's shape as plain ints."""
    return tuple(int(s) for s in t.shape)


def gemm_shape(name: str, args: tuple, out: Any) -> tuple[tuple[int, int, int], bool, int]:
    """The ``(M, N, K)`` of the GEMM a matrix product or convolution runs, whether it is a
    depthwise convolution, and a convolution's input channels per group (0 for other ops).

    A thin GEMM (a GRU's 64 × 768 × 256 step, a 3-channel first convolution) runs far below the rate
    of a square one, whatever its FLOPs. ``mm``: ``(M×K) @ (K×N)``; a batched product folds its
    batch into ``M``. A convolution runs an implicit GEMM: ``M = batch × output pixels``, ``N =
    output channels per group``, ``K = input channels per group × kernel elements`` (its backward
    is described by the same forward GEMM). ``((0, 0, 0), False, 0)`` for every other op.
    """
    try:
        if name in _GEMMS:
            return _matmul_shape(args)
        if name in _CONVS:
            return _conv_shape(name, args, out)
    except (IndexError, TypeError, ValueError, AttributeError):
        pass
    return _NONE


def _matmul_shape(args: tuple) -> tuple[tuple[int, int, int], bool, int]:
    import torch

    mats = [a for a in args if isinstance(a, torch.Tensor) and a.dim() >= 2][-2:]
    if len(mats) < 2:
        return _NONE
    a, b = shape_of(mats[0]), shape_of(mats[1])
    return (max(1, math.prod(a[:-1])), max(1, b[-1]), max(1, a[-1])), False, 0


def _conv_args(name: str, args: tuple) -> tuple[Any, Any, Any, bool, int]:
    """A convolution's ``(input, weight, stride, transposed, groups)``, forward
    (``input, weight, bias, stride, padding, dilation, transposed, output_padding, groups``) or
    backward (the same after ``grad_output``, with ``bias_sizes`` for ``bias``)."""
    a = args[1:] if "backward" in name else args
    return a[0], a[1], a[3], bool(a[6]), int(a[8])


def _conv_shape(name: str, args: tuple, out: Any) -> tuple[tuple[int, int, int], bool, int]:
    import torch

    backward = "backward" in name
    x, w, _, transposed, groups = _conv_args(name, args)
    ws = shape_of(w)
    kernel = math.prod(ws[2:])
    if transposed:  # weight (Cin, Cout/g, k...): the GEMM runs with in/out swapped
        cin_g, cout_g = ws[0] // groups, ws[1]
    else:
        cout_g, cin_g = ws[0] // groups, ws[1]
    y = args[0] if backward else out
    y = y[0] if isinstance(y, (tuple, list)) else y
    pixels = math.prod(shape_of(y)[2:]) * shape_of(x)[0] if isinstance(y, torch.Tensor) else 0
    depthwise = groups > 1 and cin_g == 1
    return (max(1, pixels), max(1, cout_g), max(1, cin_g * kernel)), depthwise, max(1, cin_g)


def conv_geometry(name: str, args: tuple) -> tuple[int, int]:
    """A convolution's spatial dimensions (1 for ``Conv1d``, 2 for ``Conv2d``, 3 for ``Conv3d``), from
    its weight, and the largest stride it steps its input by (1 for a transposed convolution, which
    steps its output); ``(0, 0)`` for every other op.

    CPU kernels run a 1-D convolution as a 2-D one of height 1, and some of its shapes run far below
    the rate of a 2-D one with the same implicit GEMM: on a 2-vCPU EPYC, a 128 → 32-channel
    convolution with a kernel of 15 ran at 100 GFLOP/s forward and 31 backward, where a 3×5 one of
    the same GEMM ran at 167 and 151. Strided ones run below unstrided ones of the same GEMM, 1-D or
    2-D: a 64 → 64-channel 3×3 convolution with stride 2 ran at 91 and 64, with stride 1 at 165 and
    142 (``tests/benchmarks/bench_conv_rates.py``, run AT in docs/performance.md, torch 2.13).
    """
    if name not in _CONVS:
        return 0, 0
    import torch

    try:
        _, w, stride, transposed, _ = _conv_args(name, args)
    except (IndexError, TypeError, ValueError):
        return 0, 0
    if not isinstance(w, torch.Tensor):
        return 0, 0
    try:
        steps = 1 if transposed else max(int(s) for s in stride)
    except (TypeError, ValueError):
        steps = 1
    return max(0, w.dim() - 2), max(1, steps)


def lookup_indices(name: str, args: tuple) -> int:
    """How many indices an embedding (or embedding-bag) op looks up, forward or backward; 0 for other ops.

    Their cost on a CPU goes with the indices more than with the bytes: in calibration on a 2-vCPU
    EPYC, ``embedding_dense_backward`` and ``_embedding_bag_backward`` took 40–100 ns per index at
    16,000–130,000 indices whatever the embedding width, several times what their bytes priced.
    """
    if name not in _LOOKUPS or len(args) < 2:  # every op of a step passes here: torch only for lookups
        return 0
    import torch

    return int(args[1].numel()) if isinstance(args[1], torch.Tensor) else 0
