"""The study's DenseLinearNN (linearly shrinking widths), as its notebook builds it (Lazy layers), C=1, H=28."""
import math

import torch.nn as nn

C, H, L = 1, 28, 3
INPUT_SHAPE = (C, H, H)


def build_model(lazy=True):
    n = C * H * H
    layers, width_in = [nn.Flatten()], n
    for d in range(L - 1):
        width = max(math.floor(n - (d + 1) * n / L), C)
        layers.append(nn.LazyLinear(width) if lazy else nn.Linear(width_in, width))
        width_in = width
    layers.append(nn.LazyLinear(10) if lazy else nn.Linear(width_in, 10))
    return nn.Sequential(*layers)


def eager():
    return build_model(lazy=False)
