"""Conv and linear forward FLOPs of unseen architectures against analytic arithmetic.

The models here (VGG-, ResNet- and MobileNet-style CNNs, plain and ReLU MLPs) appear nowhere else.
The expected numbers come from the textbook formulas, with output sizes computed by hand:
conv = 2·N·C_out·H_out·W_out·(C_in/groups)·k_h·k_w, linear = 2·N·in·out.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from green_estimate.counting.counter import count_step

N = 2


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def conv_flops(n, cin, cout, hw, k, s=1, p=0, groups=1):
    o = out_size(hw, k, s, p)
    return 2 * n * cout * o * o * (cin // groups) * k * k, o


def vgg():
    layers, expected, c, hw = [], 0, 3, 32
    for cout in (16, 16, "M", 32, 32, "M", 64, "M"):
        if cout == "M":
            layers.append(nn.MaxPool2d(2))
            hw //= 2
            continue
        layers += [nn.Conv2d(c, cout, 3, padding=1), nn.ReLU()]
        f, hw = conv_flops(N, c, cout, hw, 3, 1, 1)
        expected += f
        c = cout
    layers += [nn.Flatten(), nn.Linear(c * hw * hw, 128), nn.ReLU(), nn.Linear(128, 10)]
    expected_lin = 2 * N * (c * hw * hw * 128 + 128 * 10)
    return nn.Sequential(*layers), (3, 32, 32), expected, expected_lin


class Block(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        cout = c * stride
        self.c1 = nn.Conv2d(c, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = nn.Conv2d(c, cout, 1, stride, bias=False) if stride > 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.down(x))


def resnet():
    stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    model = nn.Sequential(stem, Block(16, 1), Block(16, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    f_stem, hw = conv_flops(N, 3, 16, 64, 7, 2, 3)          # 64 → 32
    hw = out_size(hw, 3, 2, 1)                                # maxpool 32 → 16
    f1a, _ = conv_flops(N, 16, 16, hw, 3, 1, 1)
    f1b, _ = conv_flops(N, 16, 16, hw, 3, 1, 1)
    f2a, hw2 = conv_flops(N, 16, 32, hw, 3, 2, 1)             # 16 → 8
    f2b, _ = conv_flops(N, 32, 32, hw2, 3, 1, 1)
    f2d, _ = conv_flops(N, 16, 32, hw, 1, 2, 0)
    return model, (3, 64, 64), f_stem + f1a + f1b + f2a + f2b + f2d, 2 * N * 32 * 10


def mobilenet():
    def dw_sep(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]

    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.ReLU6(), *dw_sep(8, 16, 1), *dw_sep(16, 32, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    f0, hw = conv_flops(N, 3, 8, 32, 3, 2, 1)                 # 32 → 16
    f1, hw = conv_flops(N, 8, 8, hw, 3, 1, 1, groups=8)       # depthwise
    f2, _ = conv_flops(N, 8, 16, hw, 1)
    f3, hw = conv_flops(N, 16, 16, hw, 3, 2, 1, groups=16)    # 16 → 8, depthwise
    f4, _ = conv_flops(N, 16, 32, hw, 1)
    return model, (3, 32, 32), f0 + f1 + f2 + f3 + f4, 2 * N * 32 * 10


def mlp(relu):
    widths = [64, 256, 128, 64, 10]
    layers = []
    for a, b in zip(widths, widths[1:]):
        layers.append(nn.Linear(a, b))
        if relu:
            layers.append(nn.ReLU())
    expected = sum(2 * N * a * b for a, b in zip(widths, widths[1:]))
    return nn.Sequential(*layers), (64,), 0, expected


@pytest.mark.parametrize("factory", [vgg, resnet, mobilenet, lambda: mlp(True), lambda: mlp(False)],
                         ids=["vgg", "resnet", "mobilenet", "relu-mlp", "plain-mlp"])
def test_forward_conv_and_linear_flops_match_arithmetic(factory):
    model, shape, conv_expected, linear_expected = factory()
    r = count_step(model.to("meta"), (torch.empty(N, *shape, device="meta"),), optimizer="adam")
    bcp = r.by_class_phase()
    conv = bcp["conv"]["forward"].flops if "conv" in bcp else 0
    assert conv == pytest.approx(conv_expected, rel=0.01)
    assert bcp["linear"]["forward"].flops == pytest.approx(linear_expected, rel=0.01)
    for cls, phases in bcp.items():  # every class moves bytes, ReLU included
        assert sum(t.bytes for t in phases.values()) > 0, cls
    if any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in model.modules()):
        assert bcp["relu"]["forward"].bytes > 0 and bcp["relu"]["backward"].bytes > 0
