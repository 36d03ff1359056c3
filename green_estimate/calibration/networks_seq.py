"""Seeded random 1-D convolution networks: the ``seq`` family (audio, sensor and text nets).

CPU kernels run a ``Conv1d`` as a 2-D convolution of height 1, and some of its shapes run at half
the rate of a 2-D one with the same implicit GEMM (:func:`green_estimate.counting.shapes.conv_geometry`),
so the suite times them where they occur: on raw signals (1–80 channels: waveforms, sensor leads,
spectrogram bands) of 256–2048 samples (64–512 from 40 channels up), or on token embeddings (32–300 wide) of 32–512 tokens;
plain stacks with pooling, dilated residual stacks (TCN-like), depthwise-separable stacks, and
parallel kernels taking the max over time (TextCNN-like); kernels of 1–15, strides of 2, batch and
group norm. The benchmark's 1-D models (``tests/benchmarks``) are written apart and not drawn here.
"""
from __future__ import annotations

import random
from typing import Any

from green_estimate.calibration.networks import Network, _act, _floats, _norm, _tokens

MAX_ACTIVATIONS = 65536  # channels × length of a layer's output per sample, at most (a CPU-sized step)


def _norm1d(rng: random.Random, ch: int) -> list:
    import torch.nn as nn

    return _norm(rng, ch, nn.BatchNorm1d)


def _block(rng: random.Random, c: int, out: int, k: int, dilation: int = 1, stride: int = 1, groups: int = 1,
           residual: bool = False) -> Any:
    """Conv1d, norm, activation; with ``residual`` (and the shape kept) the input is added back."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(c, out, k, stride=stride, padding=(k // 2) * dilation, dilation=dilation,
                                  groups=groups)
            self.post = nn.Sequential(*_norm1d(rng, out), _act(rng))
            self.residual = residual and c == out and stride == 1

        def forward(self, x: Any) -> Any:
            y = self.post(self.conv(x))
            return y + x if self.residual else y

    return Block()


def build_seq(rng: random.Random) -> Network:
    """One ``seq`` network drawn from ``rng`` (see the module docstring)."""
    import torch
    import torch.nn as nn

    tokens = rng.random() < 0.4
    if tokens:
        vocab, length, cin = rng.choice([1000, 5000, 20000]), rng.choice([32, 64, 128, 256, 512]), rng.choice(
            [32, 64, 128, 300])
    else:
        cin = rng.choice([1, 2, 12, 40, 64, 80])
        length = rng.choice([256, 512, 1024, 2048] if cin < 40 else [64, 128, 256, 512])
    style = rng.choice(["plain", "plain", "residual", "branches", "separable"])

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, cin) if tokens else None
            self.branches = None
            layers: list = []
            c, n = cin, length
            if style == "branches":  # parallel kernels, max over time, concatenated
                out = rng.choice([32, 64, 100, 128])
                ks = rng.sample([2, 3, 4, 5, 7], rng.randint(2, 3))
                self.branches = nn.ModuleList(nn.Sequential(nn.Conv1d(c, out, k), _act(rng)) for k in ks)
                c = out * len(ks)
            else:
                width = rng.choice([w for w in (16, 32, 64, 128, 256) if w * length <= MAX_ACTIVATIONS])
                for i in range(rng.randint(2, 6)):
                    k = rng.choice([1, 3, 3, 5, 7, 9]) if i else rng.choice([3, 5, 7, 11, 15])
                    stride = 2 if n >= 16 and rng.random() < 0.25 else 1
                    dilation = rng.choice([1, 2, 4]) if style == "residual" and stride == 1 else 1
                    out = width if i == 0 or rng.random() < 0.6 else min(width * 2, 256)
                    if style == "separable" and i > 0:
                        layers += [_block(rng, c, c, k, stride=stride, groups=c), _block(rng, c, out, 1)]
                    else:
                        layers.append(_block(rng, c, out, k, dilation, stride, residual=style == "residual"))
                    n, c, width = (n - 1) // stride + 1, out, out
                    if style == "plain" and n >= 8 and rng.random() < 0.35:
                        layers.append(rng.choice([nn.MaxPool1d, nn.AvgPool1d])(2))
                        n //= 2
            self.body = nn.Sequential(*layers)
            self.pool = rng.choice([nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d])(1)
            self.head = nn.Linear(c, rng.choice([2, 10, 35]))

        def forward(self, x: Any) -> Any:
            if self.emb is not None:
                x = self.emb(x).transpose(1, 2)  # (batch, width, tokens)
            if self.branches is not None:
                return self.head(torch.cat([b(x).amax(dim=2) for b in self.branches], dim=1))
            return self.head(self.pool(self.body(x)).flatten(1))

    return Network(Seq(), _tokens(vocab, length) if tokens else _floats(cin, length), "seq")
