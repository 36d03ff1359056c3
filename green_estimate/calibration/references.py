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
The convolutional ones are built in :mod:`~green_estimate.calibration.reference_cnns`.
"""
from __future__ import annotations

from typing import Any, Callable

from green_estimate.calibration import reference_cnns as cnn
from green_estimate.calibration.networks import REFERENCE_FAMILY, Network, _floats, _tokens, _vector


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

    return Network(Series(), _floats(50, 12), REFERENCE_FAMILY)  # 50 steps of 12 features


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
    import torch.nn as nn

    m = nn.Sequential(
        nn.Conv1d(1, 32, 80, stride=4), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 32, 3), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 64, 3), nn.BatchNorm1d(64), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(64, 64, 3), nn.BatchNorm1d(64), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 35))
    return Network(m, _floats(1, 8000), REFERENCE_FAMILY)  # one second of 8 kHz audio


# Seed i of the ``reference`` family builds the i-th (names as the profile reports them).
REFERENCES: tuple[tuple[str, Callable[[], Network]], ...] = (
    ("alexnet-32px", cnn.alexnet), ("mobilenet-v2-32px", cnn.mobilenet_v2), ("densenet-32px", cnn.densenet),
    ("squeezenet-64px", cnn.squeezenet), ("wide-resnet-32px", cnn.wide_resnet), ("convnext-32px", cnn.convnext),
    ("resnet-groupnorm-32px", cnn.preact_groupnorm), ("shufflenet-64px", cnn.shufflenet),
    ("se-resnet-32px", cnn.se_resnet), ("dilated-cnn-32px", cnn.dilated_cnn),
    ("textcnn-seq128", _textcnn), ("bilstm-seq40", _bilstm), ("gru-timeseries-seq50", _gru_timeseries),
    ("text-transformer-seq48", _text_transformer), ("causal-lm-seq32", _causal_lm),
    ("tabular-mlp", _tabular_mlp), ("residual-mlp", _residual_mlp), ("wide-and-deep", _wide_and_deep),
    ("m5-audio-8k", _m5_audio),
)


def _entry(seed: int) -> tuple[str, Callable[[], Network]]:
    if not 1 <= seed <= len(REFERENCES):
        raise KeyError(f"no reference architecture {seed}: 1 to {len(REFERENCES)}")
    return REFERENCES[seed - 1]


def reference_name(seed: int) -> str:
    """The name of the ``reference`` family's network ``seed`` (1-based).

    Raises:
        KeyError: no reference has that seed.
    """
    return _entry(seed)[0]


def build_reference(seed: int) -> Network:
    """Reference ``seed`` (1 to ``len(REFERENCES)``), built on the current default device.

    Raises:
        KeyError: no reference has that seed.
    """
    return _entry(seed)[1]()
