"""SimpleCNN from Yarally et al., CAIN 2023 (shared/PAPER.md), on FashionMNIST-sized input.

M blocks of Conv2d(3×3, stride 1, padding 1) → BatchNorm2d → ReLU → MaxPool2d(2), channels growing
×3 per block (1 → 3 → 9 → 27 → 81), then linear layers halving in width, then Linear(→10).

    green-estimate predict green_estimate/examples/simple_cnn.py --samples 60000 --epochs 25 --batch-size 512
    green-estimate predict green_estimate/examples/simple_cnn.py:build_small   # the 1-block variant
"""
from __future__ import annotations

import torch.nn as nn

INPUT_SHAPE = (1, 28, 28)


def build_model(conv_blocks: int = 4, linear_layers: int = 3, relu: bool = True, in_channels: int = 1,
                image_size: int = 28, num_classes: int = 10) -> nn.Module:
    """The study's SimpleCNN: ``conv_blocks`` conv blocks, ``linear_layers`` linear layers."""
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for _ in range(conv_blocks):
        out = channels * 3
        layers += [nn.Conv2d(channels, out, 3, stride=1, padding=1), nn.BatchNorm2d(out)]
        if relu:
            layers.append(nn.ReLU())
        layers.append(nn.MaxPool2d(2))
        channels, size = out, size // 2
    layers.append(nn.Flatten())
    width = channels * size * size
    for _ in range(linear_layers - 1):
        layers.append(nn.Linear(width, max(width // 2, num_classes)))
        if relu:
            layers.append(nn.ReLU())
        width = max(width // 2, num_classes)
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_small() -> nn.Module:
    """The study's cheaper variant: one conv block."""
    return build_model(conv_blocks=1)
