"""Scaled-dot-product attention as the kernel a GPU runs: flash, memory-efficient or math.

``torch.nn.functional.scaled_dot_product_attention`` picks one of three implementations at run
time. On the meta device it always runs the *math* path (``Q·Kᵀ``, softmax, ``·V`` as separate ops,
with the ``Lq × Lk`` score matrix written and read back), which is not what a GPU runs for most
training shapes. When the counter counts a step *for a CUDA GPU* it picks the backend the way
PyTorch's CUDA dispatcher does (:func:`choose_backend`, simplified to the rules that decide typical
training shapes) and, for flash and memory-efficient attention, dispatches the fused aten op itself
(``_scaled_dot_product_flash_attention`` / ``_scaled_dot_product_efficient_attention``, whose meta
kernels give the real output shapes). Autograd then runs the fused backward op. Each is one op of
class ``attention``; its bytes are its inputs and outputs — Q, K, V, the output and the per-row
log-sum-exp, plus the bias when there is one — with no ``L²`` intermediate.

FLOPs of the fused kernels (:func:`fused_flops`), 2 per multiply-accumulate, counting only the
GEMM work (softmax, scaling and masking are not counted, as in PyTorch's formulas):

* forward: ``Q·Kᵀ`` and ``P·V`` → ``2·B·H·pairs·(D + Dv)``;
* backward: the kernel recomputes ``Q·Kᵀ``, then ``dP = dO·Vᵀ``, ``dV = Pᵀ·dO``, ``dQ = dS·K``,
  ``dK = dSᵀ·Q`` → ``2·B·H·pairs·(3·D + 2·Dv)``;

where ``pairs`` is the number of (query, key) pairs the kernel computes: ``Lq·Lk``, or with
``is_causal`` (top-left aligned, as PyTorch defines it) the unmasked ones, ``Σᵢ min(i+1, Lk)``,
because fused kernels skip the blocks above the diagonal. That ignores the masked half of the
diagonal blocks (about ``block/L`` of the work: 12 % at L = 1024 with 128-row blocks). Without
``is_causal`` these equal PyTorch's own ``sdpa_flop_count`` and ``sdpa_backward_flop_count``.
"""
from __future__ import annotations

from typing import Any

BACKENDS: tuple[str, ...] = ("auto", "flash", "efficient", "math")

FLASH = "_scaled_dot_product_flash_attention"
EFFICIENT = "_scaled_dot_product_efficient_attention"
#: Fused forward and backward ops whose FLOPs :func:`fused_flops` gives.
FUSED_OPS: frozenset[str] = frozenset({
    FLASH, f"{FLASH}_backward", EFFICIENT, f"{EFFICIENT}_backward",
    "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_cudnn_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention_for_cpu_backward",
})


def check_backend(backend: str) -> str:
    from green_estimate.errors import UsageError

    b = str(backend).strip().lower()
    if b not in BACKENDS:
        raise UsageError(f"--attention {backend!r}: use one of {', '.join(BACKENDS)}")
    return b


def causal_pairs(lq: int, lk: int) -> int:
    """(query, key) pairs a causal mask keeps: query ``i`` sees keys ``0..i`` (top-left aligned)."""
    if lq <= lk:
        return lq * (lq + 1) // 2
    return lk * (lk + 1) // 2 + (lq - lk) * lk


def _arg(func: Any, args: tuple, kwargs: dict, name: str, default: Any) -> Any:
    schema = getattr(func, "_schema", None)
    if name in kwargs:
        return kwargs[name]
    if schema is not None:
        for i, a in enumerate(schema.arguments):
            if a.name == name:
                return args[i] if i < len(args) else default
    return default


def fused_flops(name: str, func: Any, args: tuple, kwargs: dict) -> int:
    """FLOPs of one fused attention op (forward or backward), see the module docstring."""
    backward = name.endswith("_backward")
    q, k, v = (args[1], args[2], args[3]) if backward else (args[0], args[1], args[2])
    b, h, lq, d = (int(s) for s in q.shape[-4:]) if q.dim() == 4 else (1, *(int(s) for s in q.shape[-3:]))
    lk, dv = int(k.shape[-2]), int(v.shape[-1])
    causal = bool(_arg(func, args, kwargs, "is_causal", False))
    pairs = causal_pairs(lq, lk) if causal else lq * lk
    macs = pairs * ((3 * d + 2 * dv) if backward else (d + dv))
    return 2 * b * h * macs


def choose_backend(q: Any, k: Any, v: Any, attn_mask: Any, is_causal: bool, enable_gqa: bool) -> str:
    """The SDPA backend PyTorch's CUDA dispatcher would pick (priority flash, efficient, math).

    Flash: 4-D fp16/bf16 inputs, equal head dims of at most 256 and a multiple of 8, no
    ``attn_mask`` (``is_causal`` only, on square attention). Memory-efficient: fp32/fp16/bf16, head
    dims a multiple of 8 (4 for fp32), a mask allowed. Anything else, and grouped-query attention
    with fewer key/value heads, runs the math path. (Simplified: GPU generation, nested tensors and
    the cuDNN backend are not considered.)
    """
    import torch

    half = (torch.float16, torch.bfloat16)
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4 or not (q.dtype == k.dtype == v.dtype):
        return "math"
    if q.shape[1] != k.shape[1] or k.shape[1] != v.shape[1]:  # grouped-query attention (enable_gqa)
        return "math"
    d, dv = int(q.shape[-1]), int(v.shape[-1])
    square = q.shape[-2] == k.shape[-2]
    if q.dtype in half and attn_mask is None and d == dv and d <= 256 and d % 8 == 0 and (square or not is_causal):
        return "flash"
    align = 8 if q.dtype in half else 4
    if q.dtype in (*half, torch.float32) and d % align == 0 and dv % align == 0:
        return "efficient"
    return "math"


def _sdpa_args(args: tuple, kwargs: dict) -> dict:
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
    defaults = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None, "enable_gqa": False}
    out = {**defaults, **dict(zip(names, args)), **kwargs}
    return out


def run_sdpa(original: Any, args: tuple, kwargs: dict, backend: str, low_dtype: Any = None) -> tuple[Any, str]:
    """Run one ``scaled_dot_product_attention`` call as ``backend`` (``auto`` picks as CUDA does).

    ``low_dtype``: the autocast dtype when the call runs under (emulated) autocast, which casts
    float32 inputs first, as autocast's SDPA kernel does. Returns the output and the backend used.
    """
    import torch

    a = _sdpa_args(args, kwargs)
    q, k, v, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    if low_dtype is not None:
        q, k, v = (t.to(low_dtype) if t.dtype == torch.float32 else t for t in (q, k, v))
    chosen = choose_backend(q, k, v, mask, bool(a["is_causal"]), bool(a["enable_gqa"])) if backend == "auto" else backend
    if chosen == "flash" and (mask is not None or q.dim() != 4):
        chosen = "efficient"  # flash takes no mask: a forced flash with a mask runs as efficient
    if chosen == "efficient" and q.dim() != 4:
        chosen = "math"
    if chosen == "math":
        return original(*args, **kwargs), "math"
    dropout_p, causal, scale = float(a["dropout_p"]), bool(a["is_causal"]), a["scale"]
    if chosen == "flash":
        out = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, dropout_p, causal, False, scale=scale)
        return out[0], "flash"
    bias = None
    if mask is not None:
        if mask.dtype == torch.bool:  # SDPA turns a boolean mask into an additive bias first
            mask = torch.where(mask, 0.0, float("-inf")).to(q.dtype)
        elif mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        bias = mask.expand(q.shape[0], q.shape[1], q.shape[-2], k.shape[-2])
    need_lse = any(t.requires_grad for t in (q, k, v))
    out = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, need_lse, dropout_p, causal,
                                                                  scale=scale)
    return out[0], "efficient"
