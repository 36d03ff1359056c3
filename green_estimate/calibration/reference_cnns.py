"""The convolutional reference architectures (see :mod:`~green_estimate.calibration.references`).

Small versions of well-known designs on 32- and 64-pixel images: AlexNet, MobileNetV2, DenseNet,
SqueezeNet, a wide ResNet, ConvNeXt, a ResNet with group norm, ShuffleNet, squeeze-and-excitation,
and a dilated CNN. Calibration measures them and never fits them.
"""
from __future__ import annotations

from typing import Any

from green_estimate.calibration.networks import REFERENCE_FAMILY, Network, _image

def alexnet() -> Network:
    import torch.nn as nn

    m = nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def mobilenet_v2() -> Network:
    import torch.nn as nn

    class Inverted(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
            super().__init__()
            mid = cin * expand
            self.res = stride == 1 and cin == cout
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: Any) -> Any:
            return x + self.body(x) if self.res else self.body(x)

    m = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        Inverted(16, 24, 2), Inverted(24, 24, 1), Inverted(24, 32, 2), Inverted(32, 32, 1),
        nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def densenet() -> Network:
    import torch
    import torch.nn as nn

    class Dense(nn.Module):
        def __init__(self, cin: int, growth: int = 12) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, 4 * growth, 1, bias=False),
                                   nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1,
                                                                                    bias=False))

        def forward(self, x: Any) -> Any:
            return torch.cat([x, self.f(x)], 1)

    def block(cin: int) -> tuple[list, int]:
        layers = []
        for _ in range(4):
            layers.append(Dense(cin))
            cin += 12
        return layers, cin

    first, c = block(24)
    second, c2 = block(c // 2)
    m = nn.Sequential(nn.Conv2d(3, 24, 3, stride=2, padding=1, bias=False), *first,
                      nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2),
                      *second, nn.BatchNorm2d(c2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c2, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def squeezenet() -> Network:
    import torch
    import torch.nn as nn

    class Fire(nn.Module):
        def __init__(self, cin: int, squeeze: int, expand: int) -> None:
            super().__init__()
            self.s = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
            self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
            self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1), nn.ReLU())

        def forward(self, x: Any) -> Any:
            x = self.s(x)
            return torch.cat([self.e1(x), self.e3(x)], 1)

    m = nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                      Fire(64, 16, 64), Fire(128, 16, 64), nn.MaxPool2d(2), Fire(128, 32, 128),
                      nn.Dropout(0.5), nn.Conv2d(256, 10, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Network(m, _image(3, 64), REFERENCE_FAMILY)


def wide_resnet() -> Network:
    import torch.nn as nn

    class PreAct(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                   nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.3),
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
            self.short = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

        def forward(self, x: Any) -> Any:
            return self.f(x) + (x if self.short is None else self.short(x))

    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), PreAct(16, 32, 2), PreAct(32, 32, 1),
                      PreAct(32, 64, 2), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 100))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def convnext() -> Network:
    import torch.nn as nn

    class ChannelNorm(nn.Module):  # LayerNorm over channels of an NCHW tensor
        def __init__(self, c: int) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(c)

        def forward(self, x: Any) -> Any:
            return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
            self.norm = nn.LayerNorm(c)
            self.mlp = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c))

        def forward(self, x: Any) -> Any:
            y = self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1)))
            return x + y.permute(0, 3, 1, 2)

    m = nn.Sequential(nn.Conv2d(3, 48, 4, stride=4), ChannelNorm(48), Block(48), Block(48),
                      ChannelNorm(48), nn.Conv2d(48, 96, 2, stride=2), Block(96), Block(96),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(96), nn.Linear(96, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def preact_groupnorm() -> Network:
    import torch.nn as nn

    class Basic(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU(),
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.GroupNorm(8, cout))
            self.short = (nn.Identity() if stride == 1 and cin == cout
                          else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(8, cout)))
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.f(x) + self.short(x))

    m = nn.Sequential(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.GroupNorm(8, 32), nn.ReLU(),
                      Basic(32, 32, 1), Basic(32, 64, 2), Basic(64, 64, 1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def shufflenet() -> Network:
    import torch.nn as nn

    class Unit(nn.Module):
        def __init__(self, c: int, groups: int = 4) -> None:
            super().__init__()
            self.g = groups
            mid = c // 4
            self.a = nn.Sequential(nn.Conv2d(c, mid, 1, groups=groups, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False), nn.BatchNorm2d(mid),
                                   nn.Conv2d(mid, c, 1, groups=groups, bias=False), nn.BatchNorm2d(c))
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            y = self.a(x)
            n, c, h, w = y.shape
            y = y.view(n, self.g, c // self.g, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle
            return self.act(x + self.b(y))

    m = nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                      Unit(64), Unit(64), nn.Conv2d(64, 128, 1, bias=False), nn.MaxPool2d(2), Unit(128), Unit(128),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    return Network(m, _image(3, 64), REFERENCE_FAMILY)


def se_resnet() -> Network:
    import torch.nn as nn

    class SEBlock(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                   nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, c // 8), nn.ReLU(),
                                    nn.Linear(c // 8, c), nn.Sigmoid())
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            y = self.f(x)
            return self.act(x + y * self.se(y)[:, :, None, None])

    m = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                      SEBlock(32), SEBlock(32), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def dilated_cnn() -> Network:
    import torch.nn as nn

    layers: list = [nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU()]
    for d in (2, 4):
        layers += [nn.Conv2d(24, 24, 3, padding=d, dilation=d), nn.BatchNorm2d(24), nn.ReLU()]
    m = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)
