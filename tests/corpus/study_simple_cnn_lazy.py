"""The study's SimpleCNN, as its notebook builds it (Lazy layers), for FashionMNIST (C=1, H=28)."""
import math

import torch.nn as nn

C, H, BLOCKS, L = 1, 28, 2, 3
INPUT_SHAPE = (C, H, H)


def build_model(lazy=True):
    layers = []
    for d in range(BLOCKS):
        out = C * 3 ** (d + 1)
        conv = nn.LazyConv2d(out, 3, stride=1, padding=1) if lazy else nn.Conv2d(C * 3 ** d, out, 3, stride=1, padding=1)
        layers += [conv, nn.LazyBatchNorm2d() if lazy else nn.BatchNorm2d(out), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
    layers.append(nn.Flatten(start_dim=1))
    width_in = C * 3 ** BLOCKS * (H // 2 ** BLOCKS) ** 2
    for d in range(L - 1):
        width = max(math.floor(C * H * H / 2 ** (d + 1)), C)
        layers.append(nn.LazyLinear(width) if lazy else nn.Linear(width_in, width))
        width_in = width
    layers.append(nn.LazyLinear(10) if lazy else nn.Linear(width_in, 10))
    return nn.Sequential(*layers)


def eager():
    return build_model(lazy=False)
