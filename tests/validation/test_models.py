"""The study's model families: widths, channels and parameter counts by hand."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from green_estimate.validation.models import (
    architecture_label,
    build_model,
    linear_widths,
    max_conv_blocks,
    parameter_count,
    poly_widths,
)


def _linears(model):
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def test_simple_cnn_layers_and_parameters_by_hand():
    model = build_model("simple_cnn", (1, 16, 16), 10, conv_blocks=2, linear_layers=4, relu=True)
    convs = [(m.in_channels, m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(1, 3), (3, 9)]
    # 16x16 pooled twice -> 4x4, 9 channels: 144 features; hidden widths from the input, 256/2, /4, /8.
    assert _linears(model) == [(144, 128), (128, 64), (64, 32), (32, 10)]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2
    conv = (1 * 3 * 9 + 3) + (3 * 9 * 9 + 9)  # weights + biases of both 3x3 convs
    bn = 2 * 3 + 2 * 9  # gamma and beta
    lin = (144 * 128 + 128) + (128 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    assert parameter_count(model) == conv + bn + lin == 29532
    assert model(torch.zeros(5, 1, 16, 16)).shape == (5, 10)


def test_relu_off_and_four_blocks_reach_one_pixel():
    model = build_model("simple_cnn", (1, 16, 16), conv_blocks=4, linear_layers=3, relu=False)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    # channels 1 -> 3 -> 9 -> 27 -> 81, 16 / 2**4 = 1 pixel: 81 features.
    assert _linears(model)[0] == (81, 128)
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_dense_widths_follow_the_study():
    # DensePoly: floor(F / 2**(d+1)), at least C.  F = 256.
    assert poly_widths(256, 1, 7) == [128, 64, 32, 16, 8, 4]
    # Floors at C = 3 when halving gets small: F = 48 -> 24, 12, 6, 3, max(1, 3), max(0, 3).
    assert poly_widths(48, 3, 7) == [24, 12, 6, 3, 3, 3]
    # DenseLinear: floor(F - (d+1) F / L); F = 256, L = 4 -> 192, 128, 64.
    assert linear_widths(256, 1, 4) == [192, 128, 64]
    dense = build_model("dense_linear", (1, 16, 16), linear_layers=4)
    assert _linears(dense) == [(256, 192), (192, 128), (128, 64), (64, 10)]
    poly = build_model("dense_poly", (1, 16, 16), linear_layers=3)
    assert _linears(poly) == [(256, 128), (128, 64), (64, 10)]
    assert not any(isinstance(m, (nn.ReLU, nn.Conv2d)) for m in poly.modules())


def test_conv_blocks_are_capped_by_the_image():
    assert max_conv_blocks((1, 8, 8)) == 3 and max_conv_blocks((1, 28, 28)) == 4
    with pytest.raises(ValueError, match="1..3"):
        build_model("simple_cnn", (1, 8, 8), conv_blocks=4)
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("resnet", (1, 8, 8))


def test_models_build_on_the_meta_device():
    with torch.device("meta"):
        model = build_model("simple_cnn", (3, 32, 32), conv_blocks=4, linear_layers=7, relu=True)
    assert all(p.is_meta for p in model.parameters())


def test_architecture_labels():
    assert architecture_label({"family": "simple_cnn", "conv_blocks": 4, "linear_layers": 7, "relu": True}) == "SimpleCNN c4 l7 relu"
    assert architecture_label({"family": "dense_poly", "conv_blocks": 0, "linear_layers": 3, "relu": False}) == "DensePolyNN l3"
