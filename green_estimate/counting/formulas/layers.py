"""Norms, pooling and resampling, softmax and losses (classes ``norm``, ``pool``, ``softmax``, ``loss``;
pixel and channel shuffles, ``copy``)."""
from __future__ import annotations

import math
from typing import Any

from green_estimate.counting.registry import declare, op
from green_estimate.counting.tensors import first_numel

# --- norms ------------------------------------------------------------------------------------
# Training-mode forward: mean (1) and variance (3: sub, square, add) per element, then normalise
# (2: sub, mul) and the affine transform (2: mul, add) = 8 per element. Eval mode skips the
# statistics (4). Backward: Σdy and Σdy·x̂ (3), then dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)) (5)
# plus dγ, dβ (1) = 9 per element. Per-channel work is ignored (it is tiny next to the elements).

@op("norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
    "_batch_norm_with_update", "_batch_norm_with_update_functional", "cudnn_batch_norm",
    "miopen_batch_norm", "native_layer_norm", "native_group_norm", "_fused_rms_norm")
def _norm_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return 8 * first_numel(args[:1])


@op("norm", "_native_batch_norm_legit_no_training", "_batch_norm_no_update")
def _norm_eval(args: tuple, kwargs: dict, out: Any) -> int:
    return 4 * first_numel(args[:1])


@op("norm", "native_batch_norm_backward", "batch_norm_backward", "cudnn_batch_norm_backward",
    "miopen_batch_norm_backward", "native_layer_norm_backward", "native_group_norm_backward",
    "_fused_rms_norm_backward")
def _norm_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 9 * first_numel(args[:1])


# --- pooling ----------------------------------------------------------------------------------

def _kernel_elems(kernel_size: Any, ndim: int = 2) -> int:
    if isinstance(kernel_size, int):
        return kernel_size**ndim
    ks = list(kernel_size)
    if len(ks) == 1:
        ks = ks * ndim
    return math.prod(ks)


def _kernel_arg(args: tuple, kwargs: dict) -> Any:
    return args[1] if len(args) > 1 else kwargs["kernel_size"]


@op("pool", "max_pool2d_with_indices", "avg_pool2d", "max_pool2d", "mkldnn_max_pool2d")
def _pool2d_forward(args: tuple, kwargs: dict, out: Any) -> int:
    # one comparison (max) or add (avg) per window element per output
    return first_numel(out) * _kernel_elems(_kernel_arg(args, kwargs), 2)


@op("pool", "max_pool3d_with_indices", "avg_pool3d")
def _pool3d_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(out) * _kernel_elems(_kernel_arg(args, kwargs), 3)


@op("pool", "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward", "adaptive_max_pool2d_backward")
def _maxpool_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1])  # one scatter-add per output gradient


@op("pool", "avg_pool2d_backward")
def _avgpool2d_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1]) * _kernel_elems(args[2], 2)


@op("pool", "avg_pool3d_backward")
def _avgpool3d_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1]) * _kernel_elems(args[2], 3)


@op("pool", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d")
def _adaptive_pool_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1])  # every input element is summed (or compared) once


@op("pool", "_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward")
def _adaptive_pool_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[1:2])  # (grad_output, self): every input element gets one share


declare("pool", "_low_memory_max_pool2d_with_offsets", priced_by="uncounted")


# --- resampling: interpolation (``F.interpolate``, ``nn.Upsample``) ------------------------------
# Class ``pool`` too: like pooling, each output element reads a small window of the input, and the
# backward scatters each output gradient back onto that window. On a 2-vCPU EPYC (torch 2.13, after
# allocator.settle()) a 2× nearest or bilinear upsampling of 8.4 MB outputs took 0.7-4.9 ms forward and
# 0.7-4.1 ms backward, max and average pooling of the same tensors 1.9-5.8 and 0.4-2.9 ms, and an add
# of them 0.2-0.3 ms: priced as element-wise ops (their class before), they came out 20-50× cheap
# (docs/counting.md). Per output element: nearest copies (0 FLOPs); linear interpolation weighs 2
# neighbours per dimension, bicubic 4: ``taps`` multiplies and ``taps - 1`` adds. The backward: one
# multiply and one add per tap per output gradient. Antialiased modes take more taps when they shrink
# an image; they are counted like their plain twins.
_RESAMPLE_TAPS = {
    "upsample_nearest1d": 0, "upsample_nearest2d": 0, "upsample_nearest3d": 0,
    "_upsample_nearest_exact1d": 0, "_upsample_nearest_exact2d": 0, "_upsample_nearest_exact3d": 0,
    "upsample_linear1d": 2, "upsample_bilinear2d": 4, "_upsample_bilinear2d_aa": 4, "upsample_trilinear3d": 8,
    "upsample_bicubic2d": 16, "_upsample_bicubic2d_aa": 16,
}


def _resample_forward(taps: int) -> Any:
    def flops(args: tuple, kwargs: dict, out: Any) -> int:
        return first_numel(out) * (2 * taps - 1) if taps else 0
    return flops


def _resample_backward(taps: int) -> Any:
    def flops(args: tuple, kwargs: dict, out: Any) -> int:
        return first_numel(args[:1]) * 2 * taps  # (grad_output, ...)
    return flops


for _name, _taps in _RESAMPLE_TAPS.items():
    declare("pool", _name, priced_by="formula", flops=_resample_forward(_taps))
    declare("pool", _name + "_backward", priced_by="formula", flops=_resample_backward(_taps))


# Pixel and channel shuffles only move elements (a permutation): class ``copy``, 0 FLOPs.
@op("copy", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle")
def _shuffle(args: tuple, kwargs: dict, out: Any) -> int:
    return 0


# --- softmax and losses -------------------------------------------------------------------------

@op("softmax", "_softmax", "_log_softmax", "_safe_softmax")
def _softmax_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return 5 * first_numel(out)  # max, subtract, exp, sum, divide (or log + subtract)


@op("softmax", "_softmax_backward_data", "_log_softmax_backward_data")
def _softmax_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 4 * first_numel(out)  # multiply, sum, subtract, multiply (or exp for log-softmax)


@op("loss", "nll_loss_forward", "nll_loss2d_forward")
def _nll_forward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[1:2])  # (self, target, ...): one gather-and-add per target


@op("loss", "nll_loss_backward", "nll_loss2d_backward")
def _nll_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[2:3])  # (grad_output, self, target, ...): one scatter per target


@op("loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
def _pointwise_loss(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * first_numel(args[:1])  # subtract, square (or abs), sum per element


@op("loss", "mse_loss_backward", "smooth_l1_loss_backward", "huber_loss_backward")
def _pointwise_loss_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * first_numel(args[1:2])  # (grad_output, self, target, ...)


@op("loss", "binary_cross_entropy", "binary_cross_entropy_backward", "binary_cross_entropy_with_logits")
def _bce(args: tuple, kwargs: dict, out: Any) -> int:
    return 6 * max(first_numel(args[:1]), first_numel(args[1:2]))
