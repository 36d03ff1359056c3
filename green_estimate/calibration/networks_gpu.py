"""Seeded random networks whose steps keep a GPU busy: the GPU suite's device-bound families.

The families of :mod:`~green_estimate.calibration.networks` are sized for a CPU: on an H200 every
one of their steps is bound by the host issuing kernels (a step took a median 8.5× its kernels'
time; docs/performance.md, run H200-b), so a GPU profile fitted on them alone never sees a step
whose time is the GPU's own. These draw the same kinds of layers at the sizes people train on a
GPU — conv stacks on 32–128-pixel images with 64–512 channels, MLPs with hidden layers 2048–6144
wide, transformer encoders of width 128–1024 on 64–256 tokens — and only ``suite_gpu.toml`` uses them.
"""
from __future__ import annotations

import random

from green_estimate.calibration.networks import (
    Network,
    _act,
    _encoder,
    _head,
    _image,
    _norm2d,
    _vector,
)

GPU_FAMILIES: tuple[str, ...] = ("cnn_large", "mlp_large", "transformer_large")


def _cnn_large(rng: random.Random) -> Network:
    import torch.nn as nn

    cin, hw = 3, rng.choice([32, 64, 96, 128])
    hw0, ch = hw, cin
    layers: list = []
    for _ in range(rng.randint(2, 4)):
        out = rng.choice([64, 128, 256, 384, 512])
        for _ in range(rng.randint(1, 2)):
            k = rng.choice([1, 3, 3, 3, 5])
            layers += [nn.Conv2d(ch, out, k, padding=k // 2, bias=False), *_norm2d(rng, out), _act(rng)]
            ch = out
        if hw >= 8:
            layers.append(rng.choice([nn.MaxPool2d, nn.AvgPool2d])(2))
            hw //= 2
    return Network(nn.Sequential(*layers, *_head(ch, rng)), _image(cin, hw0), "cnn_large")


def _mlp_large(rng: random.Random) -> Network:
    import torch.nn as nn

    widths = [rng.choice([1024, 2048, 4096])] + [rng.choice([2048, 4096, 6144]) for _ in range(rng.randint(2, 4))]
    layers: list = []
    for a, b in zip(widths, widths[1:]):
        layers.append(nn.Linear(a, b))
        if rng.random() < 0.3:
            layers.append(nn.LayerNorm(b))
        layers.append(_act(rng))
    layers.append(nn.Linear(widths[-1], rng.choice([10, 100, 1000])))
    return Network(nn.Sequential(*layers), _vector(widths[0]), "mlp_large")


def _transformer_large(rng: random.Random) -> Network:
    vocab, seq = rng.choice([8000, 32000]), rng.choice([64, 128, 256])
    heads = rng.choice([4, 8, 16])
    dim = heads * rng.choice([64, 64, 32])
    return _encoder(rng, vocab, seq, heads, dim, dim * rng.choice([2, 4]), (2, 6), "transformer_large")


BUILDERS = {"cnn_large": _cnn_large, "mlp_large": _mlp_large, "transformer_large": _transformer_large}
