"""Elementwise ops and activations (classes ``elementwise`` and ``relu``): a factor per element.

Every pointwise op is declared in its four spellings (``add``, ``add_``, ``_foreach_add``,
``_foreach_add_``), which share the formula: ``factor × elements`` of the output (of every output
for a foreach op).
"""
from __future__ import annotations

from typing import Any

from green_estimate.counting.registry import op, twins
from green_estimate.counting.tensors import first_numel, numel

ELEMENTWISE_FACTORS: dict[int, tuple[str, ...]] = {
    1: ("add", "sub", "rsub", "mul", "div", "neg", "abs", "sqrt", "rsqrt", "exp", "log", "pow",
        "reciprocal", "maximum", "minimum", "clamp", "clamp_min", "clamp_max", "where", "masked_fill",
        "sign", "sgn", "eq", "ne", "gt", "lt", "ge", "le", "logical_and", "logical_or", "logical_not",
        "bernoulli", "erf", "sin", "cos", "floor", "ceil", "round", "trunc", "fmod", "remainder",
        "square", "isnan", "isinf", "nan_to_num", "copysign", "tril", "triu", "uniform", "normal"),
    2: ("addcmul", "addcdiv", "native_dropout", "native_dropout_backward", "xlogy"),  # x + v·a·b; mask·x·scale
    3: ("lerp",),  # a + w·(b − a)
}

# Activations, forward and backward (class "relu"): comparisons and multiplies per element.
ACTIVATION_FACTORS: dict[int, tuple[str, ...]] = {
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


def out_elements(args: tuple, out: Any) -> int:
    """Elements produced: the first output, or for list-valued (foreach) ops all of them."""
    if isinstance(out, (list, tuple)) and out and all(hasattr(o, "numel") for o in out) and isinstance(args[0], (list, tuple)):
        return numel(out)
    if out is None and args and isinstance(args[0], (list, tuple)):  # in-place foreach returns None
        return numel(args[0])
    return first_numel(out) if out is not None else first_numel(args[:1])


def _declare_factors(cls: str, table: dict[int, tuple[str, ...]]) -> None:
    for factor, names in table.items():
        def fn(args: tuple, kwargs: dict, out: Any, _f: int = factor) -> int:
            return _f * out_elements(args, out)

        op(cls, *twins(*names))(fn)


_declare_factors("elementwise", ELEMENTWISE_FACTORS)
_declare_factors("relu", ACTIVATION_FACTORS)


# fp16's gradient scaler
@op("elementwise", "_amp_foreach_non_finite_check_and_unscale_")
def _amp_unscale(args: tuple, kwargs: dict, out: Any) -> int:
    return 2 * numel(args[0])  # (grads, found_inf, inv_scale): a multiply and a finiteness test per element


@op("elementwise", "_amp_update_scale_")
def _amp_update_scale(args: tuple, kwargs: dict, out: Any) -> int:
    return 4  # a compare, a select and a multiply on one-element tensors, and the growth counter
