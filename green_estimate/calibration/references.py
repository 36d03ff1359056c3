"""Reference architectures: standard models that calibration measures but never fits.

The suite's random networks (:mod:`~green_estimate.calibration.networks`) are what the profile is
fitted on; these are written by hand after well-known designs — AlexNet, MobileNetV2, DenseNet,
SqueezeNet, a wide ResNet, ConvNeXt, ShuffleNet, squeeze-and-excitation, a dilated CNN, a TextCNN,
LSTM and GRU classifiers, a transformer and a small causal language model, tabular and residual
MLPs, wide-and-deep, and an M5 audio net — at small sizes, and measured in the same calibration, the
same way. The fit never sees them. Predicted afterwards, their errors are what a user's standard
model can expect on this machine, and they set how wide the intervals are (split conformal
prediction: :mod:`green_estimate.intervals`). None is a model of the accuracy benchmark
(``tests/benchmarks/bench_accuracy.py``) or of ``validate``.

The suite's ``reference`` family draws them by seed: seed ``i`` is the ``i``-th of :data:`REFERENCES`.
"""
from __future__ import annotations

from typing import Any, Callable

from green_estimate.calibration.networks import Network, _image, _tokens, _vector

REFERENCE_FAMILY = "reference"


def _alexnet() -> Network:
    import torch.nn as nn

    m = nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def _mobilenet_v2() -> Network:
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


def _densenet() -> Network:
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


def _squeezenet() -> Network:
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


def _wide_resnet() -> Network:
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


def _convnext() -> Network:
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


def _preact_groupnorm() -> Network:
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


def _shufflenet() -> Network:
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


def _se_resnet() -> Network:
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


def _dilated_cnn() -> Network:
    import torch.nn as nn

    layers: list = [nn.Conv2d(3, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU()]
    for d in (2, 4):
        layers += [nn.Conv2d(24, 24, 3, padding=d, dilation=d), nn.BatchNorm2d(24), nn.ReLU()]
    m = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))
    return Network(m, _image(3, 32), REFERENCE_FAMILY)


def _textcnn() -> Network:
    import torch
    import torch.nn as nn

    class TextCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(20000, 96)
            self.convs = nn.ModuleList(nn.Conv1d(96, 64, k) for k in (3, 4, 5))
            self.drop = nn.Dropout(0.5)
            self.out = nn.Linear(192, 2)

        def forward(self, x: Any) -> Any:
            h = self.emb(x).transpose(1, 2)
            pooled = [torch.relu(c(h)).amax(dim=2) for c in self.convs]
            return self.out(self.drop(torch.cat(pooled, 1)))

    return Network(TextCNN(), _tokens(20000, 128), REFERENCE_FAMILY)


def _bilstm() -> Network:
    import torch.nn as nn

    class BiLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10000, 100)
            self.rnn = nn.LSTM(100, 128, batch_first=True, bidirectional=True)
            self.out = nn.Linear(256, 5)

        def forward(self, x: Any) -> Any:
            h, _ = self.rnn(self.emb(x))
            return self.out(h.mean(dim=1))

    return Network(BiLSTM(), _tokens(10000, 40), REFERENCE_FAMILY)


def _sequence(seq: int, features: int) -> Callable[[int, str], tuple]:
    import torch

    def make(batch: int, device: str) -> tuple:
        if device == "meta":
            return (torch.empty(batch, seq, features, device="meta"),)
        return (torch.randn(batch, seq, features, device=device),)

    return make


def _gru_timeseries() -> Network:
    import torch.nn as nn

    class Series(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(12, 96, num_layers=2, batch_first=True)
            self.out = nn.Linear(96, 6)

        def forward(self, x: Any) -> Any:
            h, _ = self.rnn(x)
            return self.out(h[:, -1])

    return Network(Series(), _sequence(50, 12), REFERENCE_FAMILY)


def _text_transformer() -> Network:
    import torch
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(16000, 128)
            self.pos = nn.Parameter(torch.zeros(1, 48, 128))
            layer = nn.TransformerEncoderLayer(128, 4, 256, dropout=0.1, activation="gelu", batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.out = nn.Linear(128, 4)

        def forward(self, x: Any) -> Any:
            return self.out(self.enc(self.emb(x) + self.pos).mean(dim=1))

    return Network(Classifier(), _tokens(16000, 48), REFERENCE_FAMILY)


def _causal_lm() -> Network:
    import torch
    import torch.nn as nn

    class TinyLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(2000, 96)
            self.pos = nn.Parameter(torch.zeros(1, 32, 96))
            layer = nn.TransformerEncoderLayer(96, 4, 384, dropout=0.0, batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(96, 2000)
            self.register_buffer("mask", torch.triu(torch.full((32, 32), float("-inf")), diagonal=1))

        def forward(self, x: Any) -> Any:
            return self.head(self.blocks(self.emb(x) + self.pos, mask=self.mask, is_causal=True))

    return Network(TinyLM(), _tokens(2000, 32), REFERENCE_FAMILY)


def _tabular_mlp() -> Network:
    import torch.nn as nn

    m = nn.Sequential(nn.Linear(54, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2),
                      nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 7))
    return Network(m, _vector(54), REFERENCE_FAMILY)


def _residual_mlp() -> Network:
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.f = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x: Any) -> Any:
            return x + self.f(x)

    m = nn.Sequential(nn.Linear(256, 384), Block(384), Block(384), Block(384), nn.LayerNorm(384), nn.Linear(384, 100))
    return Network(m, _vector(256), REFERENCE_FAMILY)


def _wide_and_deep() -> Network:
    import torch
    import torch.nn as nn

    vocabs = (1000, 50000, 200, 12000, 30, 5000)

    class WideDeep(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embs = nn.ModuleList(nn.Embedding(v, 16) for v in vocabs)
            self.wide = nn.Linear(13, 2)
            self.deep = nn.Sequential(nn.Linear(16 * len(vocabs) + 13, 256), nn.ReLU(), nn.Linear(256, 128),
                                      nn.ReLU(), nn.Linear(128, 2))

        def forward(self, cats: Any, dense: Any) -> Any:
            e = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embs)], 1)
            return self.wide(dense) + self.deep(torch.cat([e, dense], 1))

    def make(batch: int, device: str) -> tuple:
        if device == "meta":
            return (torch.empty(batch, len(vocabs), dtype=torch.long, device="meta"),
                    torch.empty(batch, 13, device="meta"))
        cats = torch.stack([torch.randint(0, v, (batch,), device=device) for v in vocabs], 1)
        return cats, torch.randn(batch, 13, device=device)

    return Network(WideDeep(), make, REFERENCE_FAMILY)


def _m5_audio() -> Network:
    import torch
    import torch.nn as nn

    m = nn.Sequential(
        nn.Conv1d(1, 32, 80, stride=4), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 32, 3), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 64, 3), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(64, 64, 3), nn.BatchNorm1d(64), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 35))

    def make(batch: int, device: str) -> tuple:
        if device == "meta":
            return (torch.empty(batch, 1, 8000, device="meta"),)
        return (torch.randn(batch, 1, 8000, device=device),)

    return Network(m, make, REFERENCE_FAMILY)


# Seed i of the ``reference`` family builds the i-th (names as the profile reports them).
REFERENCES: tuple[tuple[str, Callable[[], Network]], ...] = (
    ("alexnet-32px", _alexnet), ("mobilenet-v2-32px", _mobilenet_v2), ("densenet-32px", _densenet),
    ("squeezenet-64px", _squeezenet), ("wide-resnet-32px", _wide_resnet), ("convnext-32px", _convnext),
    ("resnet-groupnorm-32px", _preact_groupnorm), ("shufflenet-64px", _shufflenet), ("se-resnet-32px", _se_resnet),
    ("dilated-cnn-32px", _dilated_cnn), ("textcnn-seq128", _textcnn), ("bilstm-seq40", _bilstm),
    ("gru-timeseries-seq50", _gru_timeseries), ("text-transformer-seq48", _text_transformer),
    ("causal-lm-seq32", _causal_lm), ("tabular-mlp", _tabular_mlp), ("residual-mlp", _residual_mlp),
    ("wide-and-deep", _wide_and_deep), ("m5-audio-8k", _m5_audio),
)


def reference_name(seed: int) -> str:
    """The name of the ``reference`` family's network ``seed`` (1-based).

    Raises:
        KeyError: no reference has that seed.
    """
    if not 1 <= seed <= len(REFERENCES):
        raise KeyError(f"no reference architecture {seed}: 1 to {len(REFERENCES)}")
    return REFERENCES[seed - 1][0]


def build_reference(seed: int) -> Network:
    """Reference ``seed`` (1 to ``len(REFERENCES)``), built on the current default device.

    Raises:
        KeyError: no reference has that seed.
    """
    if not 1 <= seed <= len(REFERENCES):
        raise KeyError(f"no reference architecture {seed}: 1 to {len(REFERENCES)}")
    return REFERENCES[seed - 1][1]()
