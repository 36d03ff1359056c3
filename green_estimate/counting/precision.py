"""Training precision: what ``--precision fp32|tf32|bf16|fp16`` does to the counted step.

``bf16`` and ``fp16`` mean *autocast* mixed precision, as ``torch.autocast`` runs it: the forward
pass and the loss run under autocast (weights stay float32; each op of autocast's lists casts its
inputs), the backward pass outside it (autograd runs each op's gradient in the dtype its forward
saw), and the optimizer updates the float32 weights. ``fp16`` adds the gradient scaler's work
(``torch.amp.GradScaler``): the loss is multiplied by the scale, every gradient is unscaled and
checked for inf/NaN in one fused kernel, and the scale is updated. ``tf32`` counts like ``fp32``
(the tensors are float32); it changes only the rate at which GEMMs and convolutions run, which is
the profile's business.

Autocast does not act on the meta device (it applies only to tensors of the device it was enabled
for), so the counter *emulates* it with a ``TorchFunctionMode`` that applies autocast's op lists:
:data:`CUDA_POLICY` copies PyTorch's ``AutocastCUDA`` registrations (``aten/src/ATen/autocast_mode.h``:
``AT_FORALL_LOWER_PRECISION_FP``, ``AT_FORALL_FP32``, ``AT_FORALL_FP32_SET_OPT_DTYPE``,
``AT_FORALL_PROMOTE``), :data:`CPU_POLICY` the ``AutocastCPU`` ones (checked against real CPU
autocast in the tests). Casts are real ops on meta tensors (``aten._to_copy``), so their bytes are
counted, and a float32 weight used twice is cast once per forward, as autocast's cast cache does.

What the emulation cannot see: the inside of torch's own *Python* functions that are not in the
lists (a ``TorchFunctionMode`` sees such a call as a whole). The two that matter are handled
explicitly: ``multi_head_attention_forward`` (its projections and attention are all lower-precision
ops, so the whole call runs in the low dtype) and ``interpolate`` (upsampling is float32 on CUDA).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from green_estimate.counting.classes import is_in_place
from green_estimate.errors import UsageError

PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16")
TARGETS: tuple[str, ...] = ("cuda", "cpu")

_LOW = "lower_precision_fp"
_FP32 = "fp32"
_SET_DTYPE = "fp32_set_opt_dtype"
_PROMOTE = "promote"

# Python-level names (torch.*, Tensor methods, torch.nn.functional, torch._C._nn) of the aten ops in
# autocast's lists; a Tensor operator (``a @ b``, ``a ** 2``) arrives under its dunder name.
_CUDA_LOW = (
    "conv1d", "conv2d", "conv3d", "conv_tbc", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "convolution", "_convolution", "prelu", "addmm", "addmv", "addr", "matmul", "__matmul__", "__rmatmul__",
    "einsum", "mm", "mv", "linalg_vecdot", "linear", "addbmm", "baddbmm", "bmm", "chain_matmul",
    "linalg_multi_dot", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "lstm_cell", "gru_cell",
    "rnn_tanh_cell", "rnn_relu_cell", "_scaled_dot_product_flash_attention", "scaled_dot_product_attention",
    # cuDNN RNNs are cast by their own AutocastCUDA kernel (_cudnn_rnn); nn.LSTM/GRU/RNN call these:
    "lstm", "gru", "rnn_tanh", "rnn_relu",
    # a Python function whose insides the mode cannot see: projections + attention, all lower precision
    "multi_head_attention_forward",
)
_CUDA_FP32 = (
    "acos", "asin", "cosh", "erfinv", "exp", "expm1", "log", "log10", "log2", "log1p", "reciprocal", "rsqrt",
    "sinh", "tan", "pow", "__pow__", "__rpow__", "softplus", "layer_norm", "native_layer_norm", "group_norm",
    "frobenius_norm", "nuclear_norm", "cosine_similarity", "poisson_nll_loss", "cosine_embedding_loss",
    "nll_loss", "nll_loss_nd", "nll_loss2d", "hinge_embedding_loss", "kl_div", "l1_loss", "smooth_l1_loss",
    "huber_loss", "mse_loss", "margin_ranking_loss", "multilabel_margin_loss", "soft_margin_loss",
    "triplet_margin_loss", "multi_margin_loss", "binary_cross_entropy_with_logits", "dist", "pdist", "cdist",
    "renorm", "logsumexp", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
    "upsample_linear1d", "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d", "interpolate",
    # cross_entropy is not in a list itself, but both ops it runs are (log_softmax, nll_loss)
    "cross_entropy", "cross_entropy_loss",
)
_CUDA_SET_DTYPE = ("prod", "softmax", "log_softmax", "cumprod", "cumsum", "linalg_vector_norm", "sum")
_PROMOTE_OPS = ("addcdiv", "addcmul", "atan2", "bilinear", "cross", "dot", "vdot", "grid_sampler", "index_put",
                "tensordot", "scatter_add")

_CPU_LOW = (
    "conv1d", "conv2d", "conv3d", "bmm", "mm", "linalg_vecdot", "baddbmm", "addmm", "_addmm_activation", "addbmm",
    "linear", "_convolution", "matmul", "__matmul__", "__rmatmul__", "conv_tbc", "mkldnn_rnn_layer",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "prelu", "scaled_dot_product_attention",
    "_native_multi_head_attention", "multi_head_attention_forward",
)
_CPU_FP32 = (
    "avg_pool3d", "binary_cross_entropy", "grid_sampler", "polar", "prod", "quantile", "nanquantile", "stft",
    "cdist", "trace", "max_pool3d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool3d", "reflection_pad1d",
    "reflection_pad2d", "replication_pad1d", "replication_pad2d", "replication_pad3d", "mse_loss",
    "cosine_embedding_loss", "nll_loss", "nll_loss_nd", "nll_loss2d", "hinge_embedding_loss", "poisson_nll_loss",
    "smooth_l1_loss", "cross_entropy", "cross_entropy_loss", "l1_loss", "huber_loss", "margin_ranking_loss",
    "soft_margin_loss", "triplet_margin_loss", "multi_margin_loss", "ctc_loss", "kl_div",
    "multilabel_margin_loss", "binary_cross_entropy_with_logits",
)


def _policy(low: tuple, fp32: tuple, set_dtype: tuple, promote: tuple) -> dict[str, str]:
    out = {n: _PROMOTE for n in promote}
    out.update({n: _SET_DTYPE for n in set_dtype})
    out.update({n: _FP32 for n in fp32})
    out.update({n: _LOW for n in low})
    return out


CUDA_POLICY: dict[str, str] = _policy(_CUDA_LOW, _CUDA_FP32, _CUDA_SET_DTYPE, _PROMOTE_OPS)
CPU_POLICY: dict[str, str] = _policy(_CPU_LOW, _CPU_FP32, (), _PROMOTE_OPS)


def check_precision(precision: str) -> str:
    """``precision`` lower-cased if it is one of :data:`PRECISIONS`, else a one-line UsageError."""
    p = str(precision).strip().lower()
    if p not in PRECISIONS:
        raise UsageError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return p


def check_target(target: str) -> str:
    t = str(target).strip().lower()
    if t not in TARGETS:
        raise UsageError(f"unknown counting target {target!r}: use one of {', '.join(TARGETS)}")
    return t


def low_dtype(precision: str) -> Any:
    """The autocast dtype of a precision (``torch.bfloat16``/``torch.float16``), None for fp32/tf32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(check_precision(precision))


def precision_dtype(precision: str) -> str:
    """The profile ``dtype`` of a precision: ``float32`` (fp32, tf32), ``bfloat16`` or ``float16``."""
    return {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}[check_precision(precision)]


def _map(obj: Any, fn: Any, memo: dict | None = None) -> Any:
    """``fn`` applied to every tensor in ``obj``; one tensor passed twice is cast once, so a call
    that tests identity (``query is key`` in multi-head attention) sees the same object."""
    import torch

    memo = {} if memo is None else memo
    if isinstance(obj, torch.Tensor):
        if id(obj) not in memo:
            memo[id(obj)] = (obj, fn(obj))
        return memo[id(obj)][1]
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(o, fn, memo) for o in obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn, memo) for k, v in obj.items()}
    return obj


def _floats(obj: Any) -> list:
    import torch

    if isinstance(obj, torch.Tensor):
        return [obj] if obj.is_floating_point() else []
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _floats(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _floats(o)]
    return []


def _make_mode():  # the class needs torch, which this module imports lazily
    import torch
    from torch.overrides import TorchFunctionMode

    class _AutocastEmulation(TorchFunctionMode):
        def __init__(self, dtype: Any, policy: dict[str, str]) -> None:
            super().__init__()
            self.dtype = dtype
            self.policy = policy
            self.cache: dict[int, tuple[Any, Any]] = {}

        def _low(self, t: Any) -> Any:
            if not t.is_floating_point() or t.dtype != torch.float32:
                return t
            if t.is_leaf and t.requires_grad:  # autocast caches the casts of weights within one region
                hit = self.cache.get(id(t))
                if hit is not None and hit[0] is t:
                    return hit[1]
                cast = t.to(self.dtype)
                self.cache[id(t)] = (t, cast)
                return cast
            return t.to(self.dtype)

        @staticmethod
        def _fp32(t: Any) -> Any:
            return t.float() if t.is_floating_point() and t.dtype in (torch.float16, torch.bfloat16) else t

        def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            policy = self.policy.get(name)
            if policy is None or is_in_place(name):  # in-place ops are never cast
                return func(*args, **kwargs)
            if policy == _LOW:
                args, kwargs = _map((args, kwargs), self._low)
            elif policy == _FP32:
                args, kwargs = _map((args, kwargs), self._fp32)
            elif policy == _SET_DTYPE:
                floats = _floats((args, kwargs))
                if kwargs.get("dtype") is None and floats and floats[0].dtype in (torch.float16, torch.bfloat16):
                    kwargs = {**kwargs, "dtype": torch.float32}
            else:  # promote: to the widest floating dtype among the inputs
                dtypes = {t.dtype for t in _floats((args, kwargs))}
                if torch.float32 in dtypes and len(dtypes) > 1:
                    args, kwargs = _map((args, kwargs), self._fp32)
            return func(*args, **kwargs)

    return _AutocastEmulation


@contextmanager
def autocast_emulation(precision: str, target: str = "cuda") -> Iterator[None]:
    """Run the enclosed code as ``torch.autocast(target, dtype)`` would, on any device (meta too).

    A no-op for ``fp32`` and ``tf32``. ``target`` picks autocast's op lists: ``cuda`` or ``cpu``.
    """
    dtype = low_dtype(precision)
    if dtype is None:
        yield
        return
    policy = CUDA_POLICY if check_target(target) == "cuda" else CPU_POLICY
    mode = _make_mode()(dtype, policy)
    with mode:
        yield
    mode.cache.clear()


def scaler_scale(loss: Any) -> Any:
    """``GradScaler.scale(loss)``: the loss times the scale (a one-element float32 tensor)."""
    import torch

    scale = torch.full((1,), 65536.0, dtype=torch.float32, device=loss.device)
    return loss * scale.to(loss.dtype) if loss.dtype != torch.float32 else loss * scale


def scaler_unscale_and_update(params: list) -> None:
    """The rest of ``GradScaler``'s step: unscale every gradient and check it for inf/NaN (one fused
    ``_amp_foreach_non_finite_check_and_unscale_`` per device and dtype, as ``unscale_`` runs it), then
    ``_amp_update_scale_``. The host read of ``found_inf`` that decides whether to skip the step
    (``.item()``) moves no data on the device and is not counted."""
    import torch

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    device = grads[0].device
    found_inf = torch.zeros((1,), dtype=torch.float32, device=device)
    inv_scale = torch.full((1,), 1.0 / 65536.0, dtype=torch.float32, device=device)
    by_dtype: dict[Any, list] = {}
    for g in grads:
        by_dtype.setdefault(g.dtype, []).append(g)
    for group in by_dtype.values():
        torch._amp_foreach_non_finite_check_and_unscale_(group, found_inf, inv_scale)
    scale = torch.full((1,), 65536.0, dtype=torch.float32, device=device)
    growth_tracker = torch.zeros((1,), dtype=torch.int32, device=device)
    torch._amp_update_scale_(scale, growth_tracker, found_inf, 2.0, 0.5, 2000)
