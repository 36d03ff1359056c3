"""The study's model families (Yarally et al., CAIN 2023), sized from the input shape.

* **SimpleCNN**: ``conv_blocks`` × [Conv2d(3×3, stride 1, padding 1) → BatchNorm2d → ReLU (if
  ``relu``) → MaxPool2d(2)], channels ×3 per block (1→3→9→27→81 on one-channel input), flatten,
  then ``linear_layers - 1`` hidden Linear layers halving in width, then Linear(→classes).
* **DensePolyNN**: flatten, the same halving Linear stack, no activations.
* **DenseLinearNN**: flatten, Linear layers whose width shrinks *linearly*, no activations.

As in the study's code, ``linear_layers`` counts the output layer too, the hidden widths are
computed from the *input* size C·H·W (width ``max(C·H·W / 2**(d+1), C)`` for DensePoly and SimpleCNN,
``max(C·H·W - (d+1)·C·H·W/L, C)`` for DenseLinear), and the linear stack has no activations: ReLU is
a knob of the conv blocks only. Each conv block halves the image, so the number of blocks is
capped by :func:`max_conv_blocks` (the spatial size must stay ≥ 1).
"""
from __future__ import annotations

import math

from torch import nn

from green_estimate.validation.config import FAMILIES

FAMILY_TITLES = {"simple_cnn": "SimpleCNN", "dense_poly": "DensePolyNN", "dense_linear": "DenseLinearNN"}
CHANNEL_GROWTH = 3


def max_conv_blocks(input_shape: tuple[int, ...]) -> int:
    """The most conv blocks (each ending in MaxPool2d(2)) an input of this shape allows.

    >>> max_conv_blocks((1, 16, 16)), max_conv_blocks((1, 28, 28)), max_conv_blocks((3, 32, 32))
    (4, 4, 5)
    """
    _, h, w = _chw(input_shape)
    return int(math.floor(math.log2(min(h, w))))


def poly_widths(features: int, channels: int, linear_layers: int) -> list[int]:
    """Hidden widths of the halving stack: ``max(floor(features / 2**(d+1)), channels)``."""
    return [max(features // 2 ** (d + 1), channels) for d in range(linear_layers - 1)]


def linear_widths(features: int, channels: int, linear_layers: int) -> list[int]:
    """Hidden widths of the linearly shrinking stack: ``max(floor(F - (d+1)·F/L), channels)``."""
    return [max(math.floor(features - (d + 1) * features / linear_layers), channels) for d in range(linear_layers - 1)]


class SimpleCNN(nn.Module):
    """Conv blocks growing ×3 in channels, then a halving linear stack (see the module docstring)."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        n_classes: int = 10,
        *,
        conv_blocks: int = 2,
        linear_layers: int = 3,
        relu: bool = True,
    ) -> None:
        super().__init__()
        c, h, w = _chw(input_shape)
        _check_linear(linear_layers)
        if not 1 <= conv_blocks <= max_conv_blocks(input_shape):
            raise ValueError(
                f"conv_blocks={conv_blocks} does not fit a {h}x{w} input: each block halves the image, "
                f"so use 1..{max_conv_blocks(input_shape)}"
            )
        layers: list[nn.Module] = []
        ch = c
        for _ in range(conv_blocks):
            out = ch * CHANNEL_GROWTH
            layers += [nn.Conv2d(ch, out, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(out)]
            if relu:
                layers.append(nn.ReLU())
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            ch, h, w = out, h // 2, w // 2
        layers.append(nn.Flatten(start_dim=1))
        layers += _linear_stack(ch * h * w, poly_widths(c * _hw(input_shape), c, linear_layers), n_classes)
        self.layers = nn.Sequential(*layers)

    def forward(self, x):  # noqa: D102
        return self.layers(x)


class _DenseStack(nn.Module):
    """Flatten, then a stack of Linear layers of the widths ``widths_for`` gives, no activations."""

    widths_for = staticmethod(poly_widths)

    def __init__(self, input_shape: tuple[int, ...], n_classes: int = 10, *, linear_layers: int = 3) -> None:
        super().__init__()
        c, _, _ = _chw(input_shape)
        _check_linear(linear_layers)
        features = c * _hw(input_shape)
        self.layers = nn.Sequential(
            nn.Flatten(start_dim=1), *_linear_stack(features, self.widths_for(features, c, linear_layers), n_classes)
        )

    def forward(self, x):  # noqa: D102
        return self.layers(x)


class DensePolyNN(_DenseStack):
    """Flatten, then Linear layers halving in width, no activations."""

    widths_for = staticmethod(poly_widths)


class DenseLinearNN(_DenseStack):
    """Flatten, then Linear layers shrinking linearly in width, no activations."""

    widths_for = staticmethod(linear_widths)


def build_model(
    family: str,
    input_shape: tuple[int, ...],
    n_classes: int = 10,
    *,
    conv_blocks: int = 0,
    linear_layers: int = 3,
    relu: bool = False,
) -> nn.Module:
    """Build one model of the study's families; a trial's architecture dict passes straight in.

    Args:
        family: ``"simple_cnn"``, ``"dense_poly"`` or ``"dense_linear"``.
        input_shape: per-sample shape ``(C, H, W)``.
        n_classes: width of the output layer.
        conv_blocks: conv blocks of a SimpleCNN (ignored by the dense families).
        linear_layers: Linear layers including the output layer (3–7 in the study).
        relu: ReLU after each conv block's BatchNorm (SimpleCNN only).
    """
    if family == "simple_cnn":
        return SimpleCNN(input_shape, n_classes, conv_blocks=conv_blocks, linear_layers=linear_layers, relu=relu)
    if family == "dense_poly":
        return DensePolyNN(input_shape, n_classes, linear_layers=linear_layers)
    if family == "dense_linear":
        return DenseLinearNN(input_shape, n_classes, linear_layers=linear_layers)
    raise ValueError(f"unknown model family {family!r}: choose one of {', '.join(FAMILIES)}")


def architecture_label(arch: dict) -> str:
    """A short name for an architecture dict, e.g. ``"SimpleCNN c4 l7 relu"`` or ``"DensePolyNN l3"``."""
    title = FAMILY_TITLES.get(arch["family"], arch["family"])
    if arch["family"] == "simple_cnn":
        return f"{title} c{arch['conv_blocks']} l{arch['linear_layers']} {'relu' if arch['relu'] else 'no-relu'}"
    return f"{title} l{arch['linear_layers']}"


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _linear_stack(in_features: int, widths: list[int], n_classes: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Linear(in_features, width))
        in_features = width
    layers.append(nn.Linear(in_features, n_classes))
    return layers


def _check_linear(linear_layers: int) -> None:
    if linear_layers < 1:
        raise ValueError(f"linear_layers={linear_layers}: a model needs at least its output layer (1)")


def _chw(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"input shape {input_shape} is not (channels, height, width)")
    c, h, w = (int(d) for d in input_shape)
    return c, h, w


def _hw(input_shape: tuple[int, ...]) -> int:
    _, h, w = _chw(input_shape)
    return h * w
