"""Benchmark: how fast this CPU runs convolutions of one implicit GEMM as 1-D, 2-D, strided or not.

Each case is one convolution (float32, its input needing a gradient, as inside a network), timed
forward and backward (the gradients of input and weight) over 10 steps after 3 warm-up steps, and
printed as GFLOP/s (2 FLOPs per multiply-accumulate; the backward computes two forwards' worth).
Cases come in pairs of the same FLOPs and the same ``(M, N, K)`` of the GEMM they run, so a rate
that differs within a pair is the kernel's, not the work's: the reason the calibration's op models
may price 1-D and strided convolutions apart (features ``conv1d_*`` and ``conv_strided_*``, see
docs/calibration.md), and the figures docs/performance.md cites.

    python tests/benchmarks/bench_conv_rates.py
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn


def rates(conv: nn.Module, x: torch.Tensor, steps: int = 10) -> tuple[float, float]:
    """GFLOP/s of ``conv`` on ``x``, forward and backward."""
    x = x.requires_grad_(True)
    for _ in range(3):
        conv(x).sum().backward()
    fwd_s = bwd_s = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        y = conv(x)
        t1 = time.perf_counter()
        g = torch.ones_like(y)
        t2 = time.perf_counter()
        y.backward(g)
        bwd_s += time.perf_counter() - t2
        fwd_s += t1 - t0
    flops = 2 * y.numel() * (conv.in_channels // conv.groups) * conv.weight[0, 0].numel()
    return flops / (fwd_s / steps) / 1e9, 2 * flops / (bwd_s / steps) / 1e9


CASES = [  # (name, convolution, input shape); pairs share the GEMM (M, N, K)
    ("Conv1d 128→32, k 15, length 256", nn.Conv1d(128, 32, 15, padding=7), (32, 128, 256)),
    ("Conv2d 128→32, 3×5, 16×16", nn.Conv2d(128, 32, (3, 5), padding=(1, 2)), (32, 128, 16, 16)),
    ("Conv1d 128→128, k 9, length 256", nn.Conv1d(128, 128, 9, padding=4), (32, 128, 256)),
    ("Conv2d 128→128, 3×3, 16×16", nn.Conv2d(128, 128, 3, padding=1), (32, 128, 16, 16)),
    ("Conv1d 64→64, k 3, stride 2, length 1600", nn.Conv1d(64, 64, 3, 2, bias=False), (64, 64, 1600)),
    ("Conv1d 64→64, k 3, stride 1, length 801", nn.Conv1d(64, 64, 3, 1, bias=False), (64, 64, 801)),
    ("Conv2d 64→64, 3×3, stride 2, 57×57", nn.Conv2d(64, 64, 3, 2, bias=False), (64, 64, 57, 57)),
    ("Conv2d 64→64, 3×3, stride 1, 30×30", nn.Conv2d(64, 64, 3, 1, bias=False), (64, 64, 30, 30)),
]


def main() -> None:
    from green_estimate.fingerprint import cpu_fingerprint

    torch.manual_seed(0)
    print(f"machine: {cpu_fingerprint()['cpu_model']}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"{'convolution':44s} {'forward GFLOP/s':>16s} {'backward GFLOP/s':>17s}")
    for name, conv, shape in CASES:
        f, b = rates(conv, torch.randn(*shape))
        print(f"{name:44s} {f:16.1f} {b:17.1f}", flush=True)


if __name__ == "__main__":
    main()
