"""Attention as its own class: the fused SDPA kernels, their FLOPs and bytes against hand arithmetic."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

from green_estimate.counting.attention import causal_pairs, choose_backend, fused_flops
from green_estimate.counting.counter import count_step

FLASH = torch.ops.aten._scaled_dot_product_flash_attention.default
FLASH_BW = torch.ops.aten._scaled_dot_product_flash_attention_backward.default
EFF_BW = torch.ops.aten._scaled_dot_product_efficient_attention_backward.default


def qkv(b=2, h=3, lq=5, lk=5, d=8, dv=8, dtype=torch.bfloat16):
    return (torch.empty(b, h, lq, d, device="meta", dtype=dtype), torch.empty(b, h, lk, d, device="meta", dtype=dtype),
            torch.empty(b, h, lk, dv, device="meta", dtype=dtype))


def test_causal_pairs_are_the_ones_a_lower_triangular_mask_keeps():
    for lq, lk in ((5, 5), (3, 5), (5, 3), (1, 7), (64, 64)):
        assert causal_pairs(lq, lk) == int(torch.ones(lq, lk).tril().sum())
    assert causal_pairs(5, 5) == 15 and causal_pairs(3, 5) == 1 + 2 + 3 and causal_pairs(5, 3) == 1 + 2 + 3 + 3 + 3


def test_fused_forward_and_backward_flops_by_hand():
    q, k, v = qkv(b=2, h=3, lq=5, lk=5, d=8, dv=8)
    # forward: Q·Kᵀ and P·V, 2 FLOPs per MAC: 2 · B·H · Lq·Lk · (D + Dv) = 2·6·25·16
    assert fused_flops("_scaled_dot_product_flash_attention", FLASH, (q, k, v, 0.0, False), {}) == 4800
    # causal: 15 of the 25 pairs
    assert fused_flops("_scaled_dot_product_flash_attention", FLASH, (q, k, v, 0.0, True), {}) == 2 * 6 * 15 * 16
    # backward: recomputed Q·Kᵀ, dP, dV, dQ, dK → 2 · B·H · pairs · (3·D + 2·Dv) = 2·6·25·40
    grad, out = torch.empty_like(q), torch.empty_like(q)
    bw_args = (grad, q, k, v, out, None, None, None, 5, 5, 0.0, False, None, None)
    assert fused_flops("_scaled_dot_product_flash_attention_backward", FLASH_BW, bw_args, {}) == 12000
    causal = (*bw_args[:11], True, *bw_args[12:])
    assert fused_flops("_scaled_dot_product_flash_attention_backward", FLASH_BW, causal, {}) == 2 * 6 * 15 * 40
    # the efficient kernel's backward takes is_causal at another position: read from the schema
    eff = (grad, q, k, v, None, out, None, None, None, 0.0, [True] * 4, True)
    assert fused_flops("_scaled_dot_product_efficient_attention_backward", EFF_BW, eff, {}) == 2 * 6 * 15 * 40


def test_without_a_causal_mask_the_flops_equal_pytorchs_own_formulas():
    q, k, v = qkv(b=2, h=4, lq=7, lk=9, d=16, dv=8)
    assert fused_flops("_scaled_dot_product_flash_attention", FLASH, (q, k, v), {}) == sdpa_flop_count(q.shape, k.shape, v.shape)
    grad = torch.empty(2, 4, 7, 8, device="meta")
    bw = (grad, q, k, v, grad, None, None, None, 7, 9, 0.0, False, None, None)
    assert fused_flops("_scaled_dot_product_flash_attention_backward", FLASH_BW, bw, {}) == \
        sdpa_backward_flop_count(grad.shape, q.shape, k.shape, v.shape)


@pytest.mark.parametrize("dtype, mask, d, h_kv, want", [
    (torch.bfloat16, None, 64, 4, "flash"),
    (torch.float16, None, 256, 4, "flash"),
    (torch.bfloat16, "mask", 64, 4, "efficient"),  # flash takes no mask
    (torch.float32, None, 64, 4, "efficient"),  # flash needs a half dtype
    (torch.bfloat16, None, 320, 4, "efficient"),  # head dim above flash's 256
    (torch.float32, None, 6, 4, "math"),  # fp32 efficient needs head dims a multiple of 4
    (torch.bfloat16, None, 64, 2, "math"),  # grouped-query attention
])
def test_the_backend_is_picked_as_cuda_picks_it(dtype, mask, d, h_kv, want):
    q = torch.empty(2, 4, 16, d, device="meta", dtype=dtype)
    k = v = torch.empty(2, h_kv, 16, d, device="meta", dtype=dtype)
    m = torch.ones(16, 16, dtype=torch.bool, device="meta") if mask else None
    assert choose_backend(q, k, v, m, False, h_kv != 4) == want


class Attn(nn.Module):
    def __init__(self, causal=True, mask=None) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.causal, self.mask = causal, mask

    def forward(self, x):  # x: (B, H, L, 8)
        h = self.proj(x)
        return F.scaled_dot_product_attention(h, h * 2, h * 3, attn_mask=self.mask, is_causal=self.causal).mean(2).flatten(1)


def test_a_gpu_count_has_one_fused_attention_op_each_way_without_an_l2_intermediate():
    b, h, n, d = 2, 3, 5, 8
    x = torch.empty(b, h, n, d, device="meta")
    r = count_step(Attn().to("meta"), (x,), optimizer="adam", precision="bf16", target="cuda")
    att = [o for o in r.ops if o.cls == "attention"]
    assert [(o.op, o.phase) for o in att] == [("aten._scaled_dot_product_flash_attention", "forward"),
                                              ("aten._scaled_dot_product_flash_attention_backward", "backward")]
    assert all(o.fused == "attention" for o in att) and r.attention_backends == {"flash": 1}
    fwd, bwd = att
    t = b * h * n * d * 2  # one (B, H, L, D) bf16 tensor
    assert fwd.bytes_read == 3 * t  # Q, K, V
    assert fwd.bytes_written == t + b * h * n * 4 + 16 + 8  # output, fp32 log-sum-exp, RNG state (2 × u64, u64)
    assert fwd.flops == 2 * b * h * 15 * (d + d)  # causal: 15 of 25 pairs
    assert bwd.flops == 2 * b * h * 15 * (3 * d + 2 * d)
    assert bwd.bytes_written == 3 * t  # dQ, dK, dV
    assert fwd.nbytes + bwd.nbytes < 20 * t  # nothing of size L²·B·H is read or written
    assert not [o for o in r.ops if o.op in ("aten.bmm", "aten._softmax", "aten._safe_softmax")]  # no math path


def test_a_cpu_count_keeps_the_math_decomposition_calibration_was_fitted_on():
    x = torch.empty(2, 3, 5, 8, device="meta")
    r = count_step(Attn().to("meta"), (x,), optimizer="adam", precision="fp32", target="cpu")
    assert not [o for o in r.ops if o.cls == "attention"]
    assert any(o.op == "aten.bmm" and o.fused == "attention" for o in r.ops)
    forced = count_step(Attn().to("meta"), (x,), optimizer="adam", target="cuda", attention="math")
    assert not [o for o in forced.ops if o.cls == "attention"] and forced.attention_backends == {"math": 1}


def test_a_boolean_mask_runs_the_efficient_kernel_and_its_bias_is_read():
    b, h, n, d = 2, 3, 5, 8
    mask = torch.ones(n, n, dtype=torch.bool, device="meta")
    r = count_step(Attn(causal=False, mask=mask).to("meta"), (torch.empty(b, h, n, d, device="meta"),),
                   optimizer="none", precision="fp32", target="cuda")
    fwd = [o for o in r.ops if o.op == "aten._scaled_dot_product_efficient_attention"]
    assert len(fwd) == 1 and r.attention_backends == {"efficient": 1}
    t = b * h * n * d * 4
    # Q, K, V and the additive bias (an (L, L) float32 tensor expanded to (B, H, L, L): stored once)
    assert fwd[0].bytes_read == 3 * t + n * n * 4
    assert fwd[0].flops == 2 * b * h * n * n * (d + d)
