"""Seeded random tiny networks: the ``tiny`` family, steps whose time is mostly the work between ops.

Module calls, autograd and the optimizer's loop over parameters take most of a small step, and the
step model prices them with its per-step, per-dispatch and per-parameter-tensor terms
(:mod:`~green_estimate.calibration.step_fit`). The other families draw such steps only by chance: the
quick suite had two under 1.1 ms, and one of them measured 48 % slow moved a quick profile's price of
small dense nets by 15–21 points (runs BI and BK, docs/performance.md); with this family, by 6–8.
Each network is a narrow MLP (60 %) or a small convnet on an 8–16 px image: at most about 120 k
parameters and, at batch 64, 50 MFLOP. The benchmark's small models (``tests/benchmarks``) and
``validate``'s families are written apart and not drawn here.
"""
from __future__ import annotations

import random

from green_estimate.calibration.networks import Network, _act, _image, _linear_stack, _norm2d, _vector


def build_tiny(rng: random.Random) -> Network:
    """One ``tiny`` network drawn with ``rng``."""
    import torch.nn as nn

    if rng.random() < 0.6:
        width = rng.choice([4, 16, 32, 64, 128, 256, 784])
        widths = [width] + [rng.choice([8, 16, 32, 64, 128]) for _ in range(rng.randint(1, 8))]
        layers = _linear_stack(rng, widths, norm_p=0.15, norms=(nn.LayerNorm, nn.BatchNorm1d), act_p=0.85,
                               dropout_p=0.1)
        layers.append(nn.Linear(widths[-1], rng.choice([2, 10])))
        return Network(nn.Sequential(*layers), _vector(width), "tiny")
    ch, hw = rng.choice([1, 3]), rng.choice([8, 12, 16])
    shape = (ch, hw)
    layers = []
    for _ in range(rng.randint(1, 3)):
        out, k = rng.choice([2, 4, 8]), rng.choice([1, 3, 3, 5])
        layers += [nn.Conv2d(ch, out, k, padding=k // 2), *_norm2d(rng, out), _act(rng)]
        if hw >= 4 and rng.random() < 0.5:
            layers.append(rng.choice([nn.MaxPool2d, nn.AvgPool2d])(2))
            hw //= 2
        ch = out
    hidden = rng.choice([8, 16, 32])
    layers += [nn.Flatten(), nn.Linear(ch * hw * hw, hidden), _act(rng), nn.Linear(hidden, 10)]
    return Network(nn.Sequential(*layers), _image(*shape), "tiny")
