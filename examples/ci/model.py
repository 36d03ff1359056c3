"""The model this example project trains: a small CNN for 28×28 grey images (FashionMNIST).

green-estimate finds ``build_model`` and ``INPUT_SHAPE`` here; a sweep's ``[space.model]``
parameters arrive as ``build_model`` keyword arguments.
"""
from __future__ import annotations

import torch.nn as nn

INPUT_SHAPE = (1, 28, 28)


def build_model(conv_blocks: int = 2, linear_layers: int = 3, relu: bool = True, classes: int = 10) -> nn.Module:
    """``conv_blocks`` × (conv 3×3 → batch norm → ReLU → max-pool), then ``linear_layers`` linear layers."""
    layers: list[nn.Module] = []
    channels, size = 1, 28
    for _ in range(conv_blocks):
        out = 8 if channels == 1 else channels * 2  # 1 → 8 → 16 → 32 channels
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out),
                   nn.ReLU() if relu else nn.Identity(), nn.MaxPool2d(2)]
        channels, size = out, size // 2
    width = channels * size * size
    layers.append(nn.Flatten())
    for _ in range(linear_layers - 1):
        layers += [nn.Linear(width, width // 2), nn.ReLU() if relu else nn.Identity()]
        width //= 2
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)
