"""Which layer class an aten op belongs to.

The classes are what a profile calibrates and what reports break energy down by. ``conv``,
``linear`` (every GEMM) and ``relu`` (every activation) are the classes the study compares; the rest
make sure nothing is priced at zero. ``FREE_OPS`` move no bytes and do no arithmetic (views,
allocations, metadata); they are counted separately as *ignored*, like fvcore's ignored ops. Ops in
no table fall into ``other``: their bytes are still counted, and they are listed as uncounted.
"""
from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "conv", "linear", "relu", "attention", "norm", "pool", "softmax", "loss",
    "reduction", "embedding", "elementwise", "copy", "other",
)

_TABLE: dict[str, tuple[str, ...]] = {
    "conv": (
        "convolution", "_convolution", "convolution_backward", "convolution_overrideable",
        "convolution_backward_overrideable", "cudnn_convolution", "cudnn_convolution_transpose",
        "mkldnn_convolution", "_slow_conv2d_forward", "_slow_conv2d_backward",
        "slow_conv3d_forward", "slow_conv_transpose2d", "_conv_depthwise2d",
    ),
    "linear": ("mm", "addmm", "bmm", "baddbmm", "addbmm", "_scaled_mm", "mv", "addmv", "dot", "vdot", "addr", "outer"),
    "attention": (
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_efficient_attention", "_scaled_dot_product_efficient_attention_backward",
        "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_cudnn_attention_backward",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_flash_attention_forward", "_flash_attention_backward",
        "_efficient_attention_forward", "_efficient_attention_backward",
    ),
    "relu": (
        "relu", "relu_", "threshold", "threshold_backward", "gelu", "gelu_backward", "silu", "silu_",
        "silu_backward", "sigmoid", "sigmoid_", "sigmoid_backward", "tanh", "tanh_", "tanh_backward",
        "leaky_relu", "leaky_relu_", "leaky_relu_backward", "hardtanh", "hardtanh_", "hardtanh_backward",
        "elu", "elu_", "elu_backward", "hardswish", "hardswish_", "hardswish_backward", "hardsigmoid",
        "hardsigmoid_", "hardsigmoid_backward", "softplus", "softplus_backward", "mish", "mish_",
        "mish_backward", "_prelu_kernel", "_prelu_kernel_backward", "log_sigmoid_forward",
        "log_sigmoid_backward", "glu", "glu_backward", "rrelu_with_noise", "celu", "selu",
    ),
    "norm": (
        "native_batch_norm", "native_batch_norm_backward", "_native_batch_norm_legit",
        "_native_batch_norm_legit_functional", "_native_batch_norm_legit_no_training",
        "_batch_norm_with_update", "_batch_norm_with_update_functional", "_batch_norm_no_update",
        "batch_norm_backward", "cudnn_batch_norm", "cudnn_batch_norm_backward",
        "miopen_batch_norm", "miopen_batch_norm_backward", "native_layer_norm",
        "native_layer_norm_backward", "native_group_norm", "native_group_norm_backward",
        "_fused_rms_norm", "_fused_rms_norm_backward",
    ),
    "pool": (
        "max_pool2d_with_indices", "max_pool2d_with_indices_backward", "max_pool3d_with_indices",
        "max_pool3d_with_indices_backward", "avg_pool2d", "avg_pool2d_backward", "avg_pool3d",
        "avg_pool3d_backward", "_adaptive_avg_pool2d", "_adaptive_avg_pool2d_backward",
        "_adaptive_avg_pool3d", "_adaptive_avg_pool3d_backward", "adaptive_max_pool2d",
        "adaptive_max_pool2d_backward", "max_pool2d", "mkldnn_max_pool2d", "_low_memory_max_pool2d_with_offsets",
    ),
    "softmax": ("_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data", "_safe_softmax"),
    "loss": (
        "nll_loss_forward", "nll_loss_backward", "nll_loss2d_forward", "nll_loss2d_backward",
        "mse_loss", "mse_loss_backward", "binary_cross_entropy", "binary_cross_entropy_backward",
        "binary_cross_entropy_with_logits", "smooth_l1_loss", "smooth_l1_loss_backward",
        "huber_loss", "huber_loss_backward", "l1_loss",
    ),
    "reduction": (
        "sum", "mean", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean", "prod",
        "norm", "linalg_vector_norm", "argmax", "argmin", "cumsum", "cumprod", "any", "all",
        "logsumexp", "count_nonzero",
    ),
    "embedding": (
        "embedding", "embedding_dense_backward", "index_select", "gather", "scatter", "scatter_add",
        "index_add", "index", "index_put", "_index_put_impl_", "index_copy", "_embedding_bag",
    ),
    "elementwise": (
        "add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "abs", "addcmul",
        "addcmul_", "addcdiv", "addcdiv_", "lerp", "lerp_", "sqrt", "sqrt_", "rsqrt", "exp", "exp_",
        "log", "log_", "pow", "pow_", "reciprocal", "maximum", "minimum", "clamp", "clamp_",
        "clamp_min", "clamp_max", "where", "masked_fill", "masked_fill_", "sign", "eq", "ne", "gt",
        "lt", "ge", "le", "logical_and", "logical_or", "logical_not", "bernoulli", "bernoulli_",
        "native_dropout", "native_dropout_backward", "erf", "sin", "cos", "floor", "ceil", "round",
        "trunc", "fmod", "remainder", "square", "xlogy", "addcmul", "sgn", "isnan", "isinf",
        "nan_to_num", "copysign", "tril", "triu", "uniform_", "normal_",
        "_amp_foreach_non_finite_check_and_unscale_", "_amp_update_scale_",  # fp16's gradient scaler
    ),
    "copy": (
        "clone", "copy_", "_to_copy", "cat", "stack", "constant_pad_nd", "repeat", "fill_", "fill",
        "zero_", "zeros_like", "ones_like", "full_like", "zeros", "ones", "full", "new_zeros",
        "new_ones", "new_full", "select_backward", "slice_backward", "expand_copy", "flip", "roll",
        "_unsafe_index", "select_scatter", "slice_scatter", "reflection_pad2d", "replication_pad2d",
        "reflection_pad2d_backward", "replication_pad2d_backward", "arange", "masked_scatter",
        "_pin_memory", "lift_fresh_copy", "split_with_sizes_copy", "alias_copy", "view_copy",
        "_reshape_copy", "masked_select", "diag_embed", "unfold_backward", "col2im", "im2col",
    ),
}

# Ops that neither compute nor move data: views, allocations without initialisation, metadata,
# host-side scalars and profiler markers. Counted as "ignored", never as a cost.
FREE_OPS: frozenset[str] = frozenset({
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "as_strided", "detach",
    "alias", "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes", "unbind",
    "chunk", "narrow", "diagonal", "unflatten", "flatten", "view_as", "expand_as", "movedim",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh",
    "_local_scalar_dense", "is_same_size", "_has_compatible_shallow_copy_type", "set_", "resize_",
    "_record_function_enter_new", "_record_function_exit", "_record_function_enter", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "_reshape_alias", "_nested_tensor_from_mask",
    "unfold", "real", "imag", "_conj", "conj", "_neg_view", "resolve_conj", "resolve_neg",
    "_assert_async", "_assert_scalar", "_functional_assert_async", "item", "dim", "size", "stride",
})

_CLASS_OF: dict[str, str] = {name: cls for cls, names in _TABLE.items() for name in names}


def op_name(func: object) -> str:
    """``aten.addmm.default`` → ``addmm``; ``aten._foreach_add_.List`` → ``_foreach_add_``."""
    packet = getattr(func, "overloadpacket", func)
    return getattr(packet, "__name__", str(packet)).split(".")[-1]


def base_name(name: str) -> str:
    """Strip the ``_foreach_`` prefix so foreach kernels class like their single-tensor twins."""
    if name.startswith("_foreach_"):
        return name[len("_foreach_"):]
    return name


def is_in_place(name: str) -> bool:
    """True for an aten op that writes into its first argument (``add_``, ``_foreach_mul_``), not a
    dunder (``__and__``)."""
    return name.endswith("_") and not name.startswith("__")


def class_of(name: str) -> str:
    """The layer class of an aten op name (``other`` when unknown)."""
    if name in _CLASS_OF:
        return _CLASS_OF[name]
    b = base_name(name)
    if b in _CLASS_OF:
        return _CLASS_OF[b]
    if b.endswith("_") and b[:-1] in _CLASS_OF:  # in-place twin of a known op
        return _CLASS_OF[b[:-1]]
    return "other"


def is_free(name: str) -> bool:
    """True for views, allocations and metadata ops, which cost nothing."""
    return name in FREE_OPS
