"""FLOP and byte formulas for every aten op a training step dispatches.

Conventions (stated in every report):

* FLOPs are 2 per multiply-accumulate, as PyTorch's ``torch.utils.flop_counter``; GEMMs,
  convolutions and attention use PyTorch's own formulas (``flop_registry``), forward and backward —
  except a grouped convolution's backward, whose weight gradient PyTorch (2.13) counts ``groups``
  times over (see :func:`_conv_backward`).
* Elementwise-like ops cost ``factor × elements`` of their output; a transcendental function
  (exp, log, sqrt, erf) counts as 1 FLOP per element, like an add. The factors are the arithmetic a
  straightforward kernel does; they ignore vectorisation tricks and fused multiply-adds.
* Bytes are the roofline convention: bytes of every tensor read plus every tensor written, each
  tensor counted once per op, capped at the size of its storage (so a broadcast view counts what
  is stored, not what is seen). Caches are ignored: an op that reads its input twice counts once.

Each formula is a small pure function of the op's arguments and output, registered under the aten
op names it prices. Ops with no entry here (and not free) are *uncounted*: their bytes are still
counted, their FLOPs are 0, and the report lists them.
"""
from __future__ import annotations

import math
from typing import Any, Callable

FlopFormula = Callable[[tuple, dict, Any], int]

_FORMULAS: dict[str, FlopFormula] = {}

# In-place ops that overwrite their first argument without reading it.
_OVERWRITES_SELF = frozenset({"copy_", "fill_", "zero_", "uniform_", "normal_", "bernoulli_", "random_"})


def formula(*names: str) -> Callable[[FlopFormula], FlopFormula]:
    """Register a FLOP formula under one or more aten op names (the one registry)."""

    def register(fn: FlopFormula) -> FlopFormula:
        for n in names:
            _FORMULAS[n] = fn
        return fn

    return register


def _tensors(obj: Any) -> list:
    """Every tensor in a (nested) argument structure."""
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        out: list = []
        for o in obj:
            out.extend(_tensors(o))
        return out
    if isinstance(obj, dict):
        out = []
        for o in obj.values():
            out.extend(_tensors(o))
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
    return _tensors(out)


def _numel(obj: Any) -> int:
    return sum(t.numel() for t in _tensors(obj))


def _first_numel(obj: Any) -> int:
    ts = _tensors(obj)
    return ts[0].numel() if ts else 0


def _out_elements(args: tuple, out: Any) -> int:
    """Elements produced: the first output, or for list-valued (foreach) ops all of them."""
    if isinstance(out, (list, tuple)) and out and all(hasattr(o, "numel") for o in out) and isinstance(args[0], (list, tuple)):
        return _numel(out)
    if out is None and args and isinstance(args[0], (list, tuple)):  # in-place foreach returns None
        return _numel(args[0])
    return _first_numel(out) if out is not None else _first_numel(args[:1])


# --- elementwise families -------------------------------------------------------------------

_ELEMENTWISE_FACTORS: dict[int, tuple[str, ...]] = {
    1: ("add", "sub", "rsub", "mul", "div", "neg", "abs", "sqrt", "rsqrt", "exp", "log", "pow",
        "reciprocal", "maximum", "minimum", "clamp", "clamp_min", "clamp_max", "where", "masked_fill",
        "sign", "sgn", "eq", "ne", "gt", "lt", "ge", "le", "logical_and", "logical_or", "logical_not",
        "bernoulli", "erf", "sin", "cos", "floor", "ceil", "round", "trunc", "fmod", "remainder",
        "square", "isnan", "isinf", "nan_to_num", "copysign", "tril", "triu", "uniform", "normal"),
    2: ("addcmul", "addcdiv", "native_dropout", "native_dropout_backward", "xlogy"),  # x + v·a·b; mask·x·scale
    3: ("lerp",),  # a + w·(b − a)
}

# Activations, forward and backward (class "relu"): comparisons and multiplies per element.
_ACTIVATION_FACTORS: dict[int, tuple[str, ...]] = {
    1: ("relu", "threshold", "threshold_backward", "hardtanh_backward", "_prelu_kernel"),
    2: ("leaky_relu", "leaky_relu_backward", "hardtanh", "elu", "celu", "selu", "_prelu_kernel_backward",
        "rrelu_with_noise", "glu"),
    3: ("sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "elu_backward", "hardsigmoid",
        "hardsigmoid_backward", "glu_backward"),
    4: ("silu", "softplus", "log_sigmoid_forward", "hardswish", "hardswish_backward"),
    5: ("silu_backward", "softplus_backward", "log_sigmoid_backward", "mish"),
    8: ("gelu", "mish_backward"),  # erf-based GELU: x·½·(1 + erf(x/√2))
    12: ("gelu_backward",),
}


def _register_factors(table: dict[int, tuple[str, ...]]) -> None:
    for factor, names in table.items():
        def fn(args: tuple, kwargs: dict, out: Any, _f: int = factor) -> int:
            return _f * _out_elements(args, out)

        all_names = []
        for n in names:  # in-place and foreach twins share the formula
            all_names += [n, n + "_", "_foreach_" + n, "_foreach_" + n + "_"]
        formula(*all_names)(fn)


_register_factors(_ELEMENTWISE_FACTORS)
_register_factors(_ACTIVATION_FACTORS)


# --- norms ------------------------------------------------------------------------------------
# Training-mode forward: mean (1) and variance (3: sub, square, add) per element, then normalise
# (2: sub, mul) and the affine transform (2: mul, add) = 8 per element. Eval mode skips the
# statistics (4). Backward: Σdy and Σdy·x̂ (3), then dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) (5)
# plus dγ, dβ (1) = 9 per element. Per-channel work is ignored (it is tiny next to the elements).

@formula("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
         "_batch_norm_with_update", "_batch_norm_with_update_functional", "cudnn_batch_norm",
         "miopen_batch_norm", "native_layer_norm", "native_group_norm", "_fused_rms_norm")
def _norm_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return 8 * _first_numel(args[:1])


@formula("_native_batch_norm_legit_no_training", "_batch_norm_no_update")
def _norm_eval(args: tuple, kwargs: dict, out: Any) -> int:
    return 4 * _first_numel(args[:1])


@formula("native_batch_norm_backward", "batch_norm_backward", "cudnn_batch_norm_backward",
         "miopen_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward",
         "_fused_rms_norm_backward")
def _norm_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 9 * _first_numel(args[:1])


# --- pooling ----------------------------------------------------------------------------------

def _kernel_elems(kernel_size: Any, ndim: int = 2) -> int:
    if isinstance(kernel_size, int):
        return kernel_size**ndim
    ks = list(kernel_size)
    if len(ks) == 1:
        ks = ks * ndim
    return math.prod(ks)


@formula("max_pool2d_with_indices", "avg_pool2d", "max_pool2d", "mkldnn_max_pool2d")
def _pool2d_forward(args: tuple, kwargs: dict, out: Any) -> int:
    # one comparison (max) or add (avg) per window element per output
    return _first_numel(out) * _kernel_elems(args[1] if len(args) > 1 else kwargs["kernel_size"], 2)


@formula("max_pool3d_with_indices", "avg_pool3d")
def _pool3d_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(out) * _kernel_elems(args[1] if len(args) > 1 else kwargs["kernel_size"], 3)


@formula("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", "adaptive_max_pool2d_backward")
def _maxpool_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1])  # one scatter-add per output gradient


@formula("avg_pool2d_backward")
def _avgpool2d_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1]) * _kernel_elems(args[2], 2)


@formula("avg_pool3d_backward")
def _avgpool3d_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1]) * _kernel_elems(args[2], 3)


@formula("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d")
def _adaptive_pool_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1])  # every input element is summed (or compared) once


@formula("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward")
def _adaptive_pool_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[1:2])  # (grad_output, self): every input element gets one share


# --- softmax, losses, reductions, embeddings ---------------------------------------------------

@formula("_softmax", "_log_softmax", "_safe_softmax")
def _softmax_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return 5 * _first_numel(out)  # max, subtract, exp, sum, divide (or log + subtract)


@formula("_softmax_backward_data", "_log_softmax_backward_data")
def _softmax_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 4 * _first_numel(out)  # multiply, sum, subtract, multiply (or exp for log-softmax)


@formula("nll_loss_forward", "nll_loss2d_forward")
def _nll_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[1:2])  # (self, target, ...): one gather-and-add per target


@formula("nll_loss_backward", "nll_loss2d_backward")
def _nll_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[2:3])  # (grad_output, self, target, ...): one scatter per target


@formula("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
def _pointwise_loss(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * _first_numel(args[:1])  # subtract, square (or abs), sum per element


@formula("mse_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward")
def _pointwise_loss_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * _first_numel(args[1:2])  # (grad_output, self, target, ...)


@formula("binary_cross_entropy", "binary_cross_entropy_backward", "binary_cross_entropy_with_logits")
def _bce(args: tuple, kwargs: dict, out: Any) -> int:
    return 6 * max(_first_numel(args[:1]), _first_numel(args[1:2]))


@formula("sum", "mean", "amax", "amin", "max", "min", "prod", "argmax", "argmin", "cumsum",
         "cumprod", "any", "all", "count_nonzero", "norm", "linalg_vector_norm")
def _reduction(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1])  # one add/compare per input element


@formula("var", "std", "var_mean", "std_mean", "logsumexp")
def _two_pass_reduction(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * _first_numel(args[:1])


@formula("embedding_dense_backward")
def _embedding_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[:1])  # one add per element of grad_output


@formula("index_add", "scatter_add")
def _index_add(args: tuple, kwargs: dict, out: Any) -> int:
    return _first_numel(args[3:4])  # (self, dim, index, source): one add per source element


@formula("embedding", "index_select", "gather", "scatter", "index", "index_put", "_index_put_impl_",
         "index_copy", "_embedding_bag")
def _data_movement(args: tuple, kwargs: dict, out: Any) -> int:
    return 0  # gathers and scatters move data and do no arithmetic


@formula("_amp_foreach_non_finite_check_and_unscale_")
def _amp_unscale(args: tuple, kwargs: dict, out: Any) -> int:
    return 2 * _numel(args[0])  # (grads, found_inf, inv_scale): a multiply and a finiteness test per element


@formula("_amp_update_scale_")
def _amp_update_scale(args: tuple, kwargs: dict, out: Any) -> int:
    return 4  # a compare, a select and a multiply on one-element tensors, and the growth counter


def _copy_ops() -> tuple[str, ...]:
    from green_estimate.counting.classes import _TABLE

    return _TABLE["copy"]


formula(*_copy_ops())(lambda args, kwargs, out: 0)  # copies move data and do no arithmetic


def _conv_backward(args: tuple, kwargs: dict, out: Any) -> int:
    """``convolution_backward``: each gradient asked for (input, weight) costs the forward's FLOPs.

    PyTorch's formula gets the input gradient right but prices the weight gradient as one
    convolution over *all* input channels — for ``groups`` groups that is ``groups`` times the real
    work (64× for a depthwise layer of 64 channels). Bias gradients (a sum) are not counted, as there.
    """
    grad_out, x, w = args[0], args[1], args[2]
    transposed, groups = bool(args[7]), int(args[9])
    mask = args[10] if len(args) > 10 else (True, True, True)
    ws = _shape(w)
    pixels = math.prod(_shape(x)[2:] if transposed else _shape(grad_out)[2:])
    forward = 2 * _shape(x)[0] * pixels * ws[0] * ws[1] * math.prod(ws[2:])
    return forward * (int(bool(mask[0])) + int(bool(mask[1])))


# Ops whose formula here replaces PyTorch's.
_OVERRIDES: dict[str, FlopFormula] = {"convolution_backward": _conv_backward}


# --- the two public functions ---------------------------------------------------------------

def op_flops(name: str, func: Any, args: tuple, kwargs: dict, out: Any) -> int | None:
    """FLOPs of one aten op, or ``None`` when no formula knows it (the op is then *uncounted*)."""
    from torch.utils.flop_counter import flop_registry

    from green_estimate.counting.attention import FUSED_OPS, fused_flops

    if name in _OVERRIDES:
        return int(_OVERRIDES[name](args, kwargs, out))
    if name in FUSED_OPS:  # ours: causal-aware (see counting/attention.py)
        return fused_flops(name, func, args, kwargs)
    packet = getattr(func, "overloadpacket", None)
    if packet is not None and packet in flop_registry:
        return int(flop_registry[packet](*args, **kwargs, out_val=out))
    fn = _FORMULAS.get(name)
    if fn is None:
        return None
    return int(fn(args, kwargs, out))


def op_bytes(name: str, args: tuple, kwargs: dict, out: Any) -> tuple[int, int]:
    """Bytes read and bytes written by one op (roofline convention, see module docstring)."""
    reads = _tensors(args) + _tensors(kwargs)
    if name in _OVERWRITES_SELF or (name.startswith("_foreach_") and name[len("_foreach_"):] in _OVERWRITES_SELF):
        first = _tensors(args[:1])
        ids = {id(t) for t in first}
        reads = [t for t in reads if id(t) not in ids]
    seen: set[int] = set()
    read = 0
    for t in reads:
        if id(t) not in seen:
            seen.add(id(t))
            read += tensor_nbytes(t)
    written_ts = _tensors(out) if out is not None else _tensors(args[:1])
    written = 0
    seen.clear()
    for t in written_ts:
        if id(t) not in seen:
            seen.add(id(t))
            written += tensor_nbytes(t)
    return read, written


# --- shape descriptors: how efficiently a GEMM-like kernel can run ------------------------------

_GEMMS = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm", "_scaled_mm"})
_CONVS = frozenset({"convolution", "convolution_backward", "_convolution", "convolution_overrideable",
                    "convolution_backward_overrideable"})


def _shape(t: Any) -> tuple[int, ...]:
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
    import torch

    try:
        if name in _GEMMS:
            mats = [a for a in args if isinstance(a, torch.Tensor) and a.dim() >= 2][-2:]
            if len(mats) < 2:
                return (0, 0, 0), False, 0
            a, b = _shape(mats[0]), _shape(mats[1])
            return (max(1, math.prod(a[:-1])), max(1, b[-1]), max(1, a[-1])), False, 0
        if name in _CONVS:
            backward = "backward" in name
            x, w = (args[1], args[2]) if backward else (args[0], args[1])
            transposed = bool(args[7] if backward else args[6])
            groups = int(args[9] if backward else args[8])
            ws = _shape(w)
            kernel = math.prod(ws[2:])
            if transposed:  # weight (Cin, Cout/g, k...): the GEMM runs with in/out swapped
                cin_g, cout_g = ws[0] // groups, ws[1]
            else:
                cout_g, cin_g = ws[0] // groups, ws[1]
            y = args[0] if backward else out
            y = y[0] if isinstance(y, (tuple, list)) else y
            pixels = math.prod(_shape(y)[2:]) * _shape(x)[0] if isinstance(y, torch.Tensor) else 0
            depthwise = groups > 1 and cin_g == 1
            return (max(1, pixels), max(1, cout_g), max(1, cin_g * kernel)), depthwise, max(1, cin_g)
    except (IndexError, TypeError, ValueError, AttributeError):
        pass
    return (0, 0, 0), False, 0
