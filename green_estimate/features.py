"""Regression features of one op: what a profile's coefficients multiply.

Calibration and prediction both compute features here, from the same :class:`OpRecord` the counter
emits, so a coefficient means the same thing when it is fitted and when it is used. A class's
features over many ops are the *sums* of each op's features (the models are linear in them).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

from green_estimate.counting.classes import base_name, is_in_place
from green_estimate.counting.report import OpRecord

FLOPS_MEDIUM, FLOPS_LARGE = 1e6, 3e7   # bins of the piecewise-throughput features
BYTES_MEDIUM, BYTES_LARGE = 1e5, 3e6
BYTES_DRAM = 3.2e7   # an op moving more than a large last-level cache holds streams from memory
# glibc serves an allocation above its largest mmap threshold (32 MiB on 64-bit) with fresh pages
# from the kernel and unmaps it when freed, so an op that writes a new tensor that large page-faults
# all of it in every step (measured: a 64 MB ``sqrt`` takes 4.5× an in-place ``lerp_`` of the same
# tensor); PyTorch's CPU allocator does not cache.
FRESH_BYTES = 32 * 2**20
# Bins of a GEMM's (or a convolution's implicit GEMM's) smallest dimension: a thin GEMM (a GRU's
# 64 × 768 × 256 step, a 3-channel first convolution) runs far below the rate of a square one.
MIN_DIM_BINS = (16, 64, 256)
# Pointwise ops whose per-element work is far above a load, an add and a store. Drawing random
# numbers (dropout's ``bernoulli_``) streamed at 0.6 GB/s in calibration where an ``add_`` ran at 40,
# and ``sqrt``, ``div`` and ``tanh`` — functions and long-latency divisions, "transcendental" below —
# at 5–12 GB/s (2-vCPU EPYC, in-context; their FLOP formulas count one to three FLOPs per element,
# like an add's).
RNG_OPS = frozenset({"bernoulli", "uniform", "normal", "random", "exponential", "geometric", "cauchy", "log_normal",
                     "native_dropout", "rand", "rand_like", "randn", "randn_like", "randint", "randint_like",
                     "randperm", "multinomial", "rrelu_with_noise"})
TRANSCENDENTAL_OPS = frozenset({"sqrt", "rsqrt", "div", "reciprocal", "exp", "exp2", "expm1", "log", "log2",
                                "log10", "log1p", "pow", "tanh", "sigmoid", "erf", "erfc", "erfinv", "sin", "cos",
                                "tan", "atan", "asin", "acos", "sinh", "cosh", "atan2"})


def _short(op: OpRecord) -> str:
    """``aten.add_`` → ``add_``."""
    return op.op.rsplit(".", 1)[-1]


def pointwise_kind(op: OpRecord) -> str:
    """``rng``, ``transcendental`` or ``""`` for an op's base name (``_foreach_`` and ``_`` stripped)."""
    name = base_name(_short(op))
    if is_in_place(name):
        name = name[:-1]
    return "rng" if name in RNG_OPS else "transcendental" if name in TRANSCENDENTAL_OPS else ""


def _unaligned(op: OpRecord, block: int) -> float:
    return float(op.flops) if op.conv_cin > 0 and op.conv_cin % block and not op.depthwise else 0.0


def _gemm_bin(op: OpRecord, lo: int, hi: float) -> float:
    return float(op.flops) if (op.min_dim > 0 and not op.depthwise and lo <= op.min_dim < hi) else 0.0

FEATURES: dict[str, Callable[[OpRecord], float]] = {
    "const": lambda op: 1.0,                     # the per-op fixed cost (dispatch, kernel launch)
    "flops": lambda op: float(op.flops),
    "bytes": lambda op: float(op.nbytes),
    # Size-dependent efficiency: small ops run far below peak. √FLOPs grows slower than FLOPs, so a
    # positive coefficient adds a cost that matters for small ops and fades (relatively) for large.
    "sqrt_flops": lambda op: math.sqrt(op.flops),
    "sqrt_bytes": lambda op: math.sqrt(op.nbytes),
    # Piecewise throughput: FLOPs (or bytes) of small, medium and large ops get their own rate, so
    # a kernel that runs far from peak when small is not priced at its large-size rate.
    "flops_small": lambda op: float(op.flops) if op.flops < FLOPS_MEDIUM else 0.0,
    "flops_medium": lambda op: float(op.flops) if FLOPS_MEDIUM <= op.flops < FLOPS_LARGE else 0.0,
    "flops_large": lambda op: float(op.flops) if op.flops >= FLOPS_LARGE else 0.0,
    "bytes_small": lambda op: float(op.nbytes) if op.nbytes < BYTES_MEDIUM else 0.0,
    "bytes_medium": lambda op: float(op.nbytes) if BYTES_MEDIUM <= op.nbytes < BYTES_LARGE else 0.0,
    "bytes_large": lambda op: float(op.nbytes) if op.nbytes >= BYTES_LARGE else 0.0,
    "bytes_dram": lambda op: float(op.nbytes) if op.nbytes >= BYTES_DRAM else 0.0,
    # the bytes an op moves beyond what the cache holds: its traffic past BYTES_DRAM streams from
    # memory, the rest need not (an op just over it costs about what one just under it does)
    "bytes_past_cache": lambda op: max(0.0, float(op.nbytes) - BYTES_DRAM),
    # bytes a new (not in-place) output of at least FRESH_BYTES takes from fresh pages
    "bytes_fresh": lambda op: (float(op.bytes_written)
                               if op.bytes_written >= FRESH_BYTES and not is_in_place(_short(op)) else 0.0),
    # the extra cost per byte of pointwise ops that draw random numbers or evaluate a costly function
    "rng_bytes": lambda op: float(op.nbytes) if pointwise_kind(op) == "rng" else 0.0,
    "transcendental_bytes": lambda op: float(op.nbytes) if pointwise_kind(op) == "transcendental" else 0.0,
    # bytes an op writes to a tensor it allocates (not in place): the stores miss the caches
    "new_bytes": lambda op: float(op.bytes_written) if not is_in_place(_short(op)) else 0.0,
    # Kernels an op runs: a backward op computing input, weight and bias gradients runs three.
    "outputs": lambda op: float(op.outputs),
    # GEMM and convolution FLOPs by the GEMM's smallest dimension, and depthwise convolutions apart.
    "gemm_flops_thin": lambda op: _gemm_bin(op, 1, MIN_DIM_BINS[0]),
    "gemm_flops_narrow": lambda op: _gemm_bin(op, MIN_DIM_BINS[0], MIN_DIM_BINS[1]),
    "gemm_flops_medium": lambda op: _gemm_bin(op, MIN_DIM_BINS[1], MIN_DIM_BINS[2]),
    "gemm_flops_wide": lambda op: _gemm_bin(op, MIN_DIM_BINS[2], math.inf),
    "depthwise_flops": lambda op: float(op.flops) if op.depthwise else 0.0,
    # Convolutions whose input channels (per group) are off the CPU kernels' channel block run
    # padded and reordered: on AVX-512 a 24-channel 3×3 convolution took longer than a 32-channel
    # one (measured); AVX2 kernels block by 8. Depthwise ones have a feature of their own.
    "conv_unaligned16_flops": lambda op: _unaligned(op, 16),
    "conv_unaligned8_flops": lambda op: _unaligned(op, 8),
    # Grouped convolutions with fewer output channels per group than the kernels' 8-channel block
    # fall off the blocked kernels: in calibration a 16-group convolution of 4 → 2 channels per
    # group ran at 5–7 GFLOP/s and 8 → 4 at 15–40, where 8 → 8 ran at 80 (measured, 2-vCPU EPYC).
    "conv_narrow_out_flops": lambda op: (float(op.flops) if op.conv_cin > 0 and not op.depthwise
                                         and op.gemm_mnk[1] < 8 else 0.0),
    # Depthwise convolutions stream their tensors at about one rate (6 GB/s in calibration on a
    # 2-vCPU EPYC: a 3×3 one forward at 14 GFLOP/s with stride 1 and 5 with stride 2, a 5×5 one at 38
    # and 14), which ``bytes`` prices — except the backward of kernels wider than 3×3, which
    # computes at about 5 GFLOP/s where a 3×3 one runs at 16.
    "depthwise_wide_backward_flops": lambda op: (float(op.flops) if op.depthwise and op.phase == "backward"
                                                 and op.gemm_mnk[2] > 9 else 0.0),
    # The backward of strided depthwise convolutions: in a bf16 calibration's mobile networks (2-vCPU
    # EPYC, AVX-512 BF16) it took 1.26 s of op time against 0.46 s for the stride-1 ones, the largest
    # ×4–×59 the price of a model without it (docs/performance.md, runs BP and BQ).
    "depthwise_strided_backward_flops": lambda op: (float(op.flops) if op.depthwise and op.phase == "backward"
                                                    and op.conv_stride > 1 else 0.0),
    # 1-D convolutions (Conv1d: audio, text, temporal nets), which CPU kernels run as 2-D ones of
    # height 1: some of their shapes ran at half the rate of a 2-D convolution with the same implicit
    # GEMM, their backward more often than their forward (counting.shapes.conv_geometry). Depthwise ones
    # are priced by their bytes and the depthwise terms.
    "conv1d_flops": lambda op: float(op.flops) if op.conv_dims == 1 and not op.depthwise else 0.0,
    "conv1d_backward_flops": lambda op: (float(op.flops) if op.conv_dims == 1 and not op.depthwise
                                         and op.phase == "backward" else 0.0),
    # Strided convolutions (1-D or 2-D) run below unstrided ones of the same GEMM: a 3×3 one with
    # stride 2 at about half the rate, forward and backward (counting.shapes.conv_geometry).
    "conv_strided_flops": lambda op: float(op.flops) if op.conv_stride > 1 and not op.depthwise else 0.0,
    "conv_strided_backward_flops": lambda op: (float(op.flops) if op.conv_stride > 1 and not op.depthwise
                                               and op.phase == "backward" else 0.0),
    # Indices an embedding op looks up: on a CPU the backward of an embedding or a bag took a time
    # that follows the indices, not the bytes (see counting.shapes.lookup_indices). Every lookup's backward looks up the same indices, so one
    # feature carries both directions' cost (a backward-only twin would be collinear with it).
    "indices": lambda op: float(op.indices),
    # Backward kernels (gradients of input and weight) differ from forward ones in cost per call.
    "backward_const": lambda op: 1.0 if op.phase == "backward" else 0.0,
    "backward_flops": lambda op: float(op.flops) if op.phase == "backward" else 0.0,
}


# The terms that price FLOPs (what an LSTM region's scale multiplies: counting/regions.py).
FLOP_FEATURES = frozenset(name for name in FEATURES if "flops" in name)


def fresh_bytes(ops: Iterable[OpRecord]) -> float:
    """Bytes a step's ops write to new tensors large enough to take fresh pages (see :data:`FRESH_BYTES`).

    Their cost does not end inside the op (page faults as it writes them): the allocator unmaps each
    such tensor when it is freed — between ops, where no op's time holds it. It is one cost per byte
    whatever the op, so the step model prices these bytes, not the class models.
    """
    fn = FEATURES["bytes_fresh"]
    return float(sum(fn(op) for op in ops))


def feature_vector(ops: Iterable[OpRecord], names: list[str]) -> list[float]:
    """Σ over ``ops`` of each named feature (unknown names raise ``KeyError``)."""
    fns = [FEATURES[n] for n in names]
    total = [0.0] * len(names)
    for op in ops:
        for i, fn in enumerate(fns):
            total[i] += fn(op)
    return total


def model_mean(model: dict, ops: list[OpRecord], params: list[float] | None = None) -> float:
    """A class model's (a profile's model dict) cost of ``ops``; ``params`` overrides its coefficients."""
    return model_means(model, ops, params)[0]


def model_means(model: dict, ops: list[OpRecord], params: list[float] | None = None,
                terms_seq: Iterable[str | None] = (None,)) -> list[float]:
    """:func:`model_mean` for each ``terms`` of ``terms_seq``, from one sum of the ops' features: each
    keeps only some of the model's terms — all (``None``), the per-op ones (``"fixed"``), the others
    (``"var"``) or the FLOP terms (``"flops"``; :func:`green_estimate.counting.regions.scale_parts`)."""
    p = params if params is not None else model["params"]
    names = model["features"]
    x = feature_vector(ops, names)
    return [sum(a * xi for a, xi in zip(p, kept_terms(names, x, terms))) for terms in terms_seq]


def kept_terms(names: list[str], x: list[float], terms: str | None) -> list[float]:
    """``x`` (a class model's summed features ``names``) with the features outside ``terms`` set to 0
    (:func:`green_estimate.counting.regions.in_terms`)."""
    from green_estimate.counting.regions import in_terms

    return [xi if in_terms(f, terms) else 0.0 for f, xi in zip(names, x)]
