"""The three model families of Yarally et al. (CAIN 2023), built as the study's notebook builds them.

All layers are Lazy (``LazyConv2d``, ``LazyBatchNorm2d``, ``LazyLinear``): their input sizes come from
the first batch. The variables select the variant (as a runs file's ``model_args`` pass them):

* ``family``: ``SimpleCNN``, ``DensePolyNN`` or ``DenseLinearNN``;
* ``C``, ``H``: input channels and image side (FashionMNIST 1, 28; CIFAR-10 3, 32);
* ``blocks``: conv blocks of SimpleCNN (default 2); ``L``: linear layers, output layer included (default 3).

Block d = 0, 1, … of SimpleCNN is ``LazyConv2d(C·3^(d+1), 3, stride 1, padding 1)``,
``LazyBatchNorm2d()``, ``ReLU(inplace=True)``, ``MaxPool2d(2, 2)``; then ``Flatten``, L−1 layers
``LazyLinear(max(floor(C·H²/2^(d+1)), C))`` and ``LazyLinear(10)``, no activation between them.
DensePolyNN is ``Flatten`` and the same linear stack; DenseLinearNN's hidden widths are
``max(floor(n − (d+1)·n/L), C)`` with n = C·H². (../../shared/data/README.md describes the study.)

Example:
    green-estimate count calibration/runs/yarally_cain2023_models.py --batch-size 512
"""
import math

import torch.nn as nn

FAMILIES = ("SimpleCNN", "DensePolyNN", "DenseLinearNN")
C, H = 1, 28  # FashionMNIST by default; CIFAR-10 is C=3, H=32
INPUT_SHAPE = (C, H, H)


def _poly_widths(C: int, H: int, L: int) -> list[int]:
    return [max(math.floor(C * H * H / 2 ** (d + 1)), C) for d in range(L - 1)]


def _linear_widths(C: int, H: int, L: int) -> list[int]:
    n = C * H * H
    return [max(math.floor(n - (d + 1) * n / L), C) for d in range(L - 1)]


def build_model(family: str = "SimpleCNN", C: int = C, H: int = H, blocks: int = 2, L: int = 3) -> nn.Module:
    """One model of the study (see the module docstring); ``C`` and ``H`` must match the input."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    layers: list[nn.Module] = []
    if family == "SimpleCNN":
        for d in range(blocks):
            layers += [nn.LazyConv2d(C * 3 ** (d + 1), kernel_size=3, stride=1, padding=1), nn.LazyBatchNorm2d(),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
    layers.append(nn.Flatten(start_dim=1))
    widths = _linear_widths(C, H, L) if family == "DenseLinearNN" else _poly_widths(C, H, L)
    layers += [nn.LazyLinear(w) for w in widths]
    layers.append(nn.LazyLinear(10))
    return nn.Sequential(*layers)
