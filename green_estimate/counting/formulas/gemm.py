"""Convolutions, matrix products and attention (classes ``conv``, ``linear``, ``attention``).

Most are priced by PyTorch's own formulas; a convolution's backward by ours (PyTorch's overcounts a
grouped one), fused attention by :func:`green_estimate.counting.attention.fused_flops`. The ops
declared ``uncounted`` have a class but no FLOP formula yet: their bytes are counted and reports
list them.
"""
from __future__ import annotations

import math
from typing import Any

from green_estimate.counting.attention import FUSED_OPS
from green_estimate.counting.registry import declare, op
from green_estimate.counting.shapes import shape_of

declare("conv", "convolution", "_convolution", "convolution_overrideable", "cudnn_convolution", "_slow_conv2d_forward",
        priced_by="pytorch")
declare("conv", "convolution_backward_overrideable", "cudnn_convolution_transpose", "mkldnn_convolution",
        "_slow_conv2d_backward", "slow_conv3d_forward", "slow_conv_transpose2d", "_conv_depthwise2d",
        priced_by="uncounted")
declare("linear", "mm", "addmm", "bmm", "baddbmm", "_scaled_mm", priced_by="pytorch")
declare("linear", "addbmm", "mv", "addmv", "dot", "vdot", "addr", "outer", priced_by="uncounted")
declare("attention", *sorted(FUSED_OPS), priced_by="attention")
declare("attention", "_flash_attention_forward", "_flash_attention_backward", "_efficient_attention_forward",
        "_efficient_attention_backward", priced_by="pytorch")


@op("conv", "convolution_backward")
def conv_backward(args: tuple, kwargs: dict, out: Any) -> int:
    """``convolution_backward``: each gradient asked for (input, weight) costs the forward's FLOPs.

    PyTorch's formula gets the input gradient right but prices the weight gradient as one
    convolution over *all* input channels — for ``groups`` groups that is ``groups`` times the real
    work (64× for a depthwise layer of 64 channels). Bias gradients (a sum) are not counted, as there.
    """
    grad_out, x, w = args[0], args[1], args[2]
    transposed = bool(args[7])
    mask = args[10] if len(args) > 10 else (True, True, True)
    ws = shape_of(w)
    pixels = math.prod(shape_of(x)[2:] if transposed else shape_of(grad_out)[2:])
    forward = 2 * shape_of(x)[0] * pixels * ws[0] * ws[1] * math.prod(ws[2:])
    return forward * (int(bool(mask[0])) + int(bool(mask[1])))
