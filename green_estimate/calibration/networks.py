"""Seeded random networks of the kinds people train: what calibration times ops inside of.

Each family draws its architecture from a seeded ``random.Random``, so every machine builds the same
networks. Together they cover what the ops of real training steps look like: dense, 1×1, strided,
depthwise, grouped and transposed convolutions; batch, layer and group norm; ReLU, ReLU6, GELU,
SiLU, Hardswish, LeakyReLU, Tanh; residual adds and channel concatenations; attention
(``nn.TransformerEncoderLayer``, which runs ``scaled_dot_product_attention``), causal too, in
language models whose loss is cross-entropy over a whole vocabulary; GRU and LSTM;
embeddings and embedding bags; tiny and very wide MLPs; 1-D convolutions
(:mod:`~green_estimate.calibration.networks_seq`); and tiny steps whose time is mostly the work
between ops (:mod:`~green_estimate.calibration.networks_tiny`). The benchmark's models are written
separately (``tests/benchmarks``) and are not drawn from here.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

FAMILIES: tuple[str, ...] = ("cnn", "resnet", "mobile", "grouped", "unet", "mlp", "rnn", "transformer", "embed",
                              "seq", "tiny", "lm")
REFERENCE_FAMILY = "reference"  # the standard models of calibration/references.py: measured, never fitted


@dataclass
class Network:
    """A built network and how to make its input (``inputs(batch, device)`` → a tuple of tensors)."""

    model: Any
    inputs: Callable[[int, str], tuple]
    family: str


def _act(rng: random.Random) -> Any:
    import torch.nn as nn

    return rng.choice([nn.ReLU, nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.Tanh])()


def _floats(*shape: int) -> Callable[[int, str], tuple]:
    """Inputs of ``(batch, *shape)`` normal floats (empty on ``meta``)."""
    import torch

    def make(batch: int, device: str) -> tuple:
        if device == "meta":
            return (torch.empty(batch, *shape, device="meta"),)
        return (torch.randn(batch, *shape, device=device),)

    return make


def _image(ch: int, hw: int) -> Callable[[int, str], tuple]:
    return _floats(ch, hw, hw)


def _tokens(vocab: int, seq: int) -> Callable[[int, str], tuple]:
    import torch

    def make(batch: int, device: str) -> tuple:
        if device == "meta":
            return (torch.empty(batch, seq, dtype=torch.long, device="meta"),)
        return (torch.randint(0, vocab, (batch, seq), device=device),)

    return make


def _vector(width: int) -> Callable[[int, str], tuple]:
    return _floats(width)


def _norm(rng: random.Random, ch: int, batch_norm: Any) -> list:
    """Batch norm (``batch_norm``, 55 %), group norm (15 %) or none after a convolution of ``ch`` channels."""
    import torch.nn as nn

    r = rng.random()
    if r < 0.55:
        return [batch_norm(ch)]
    if r < 0.7:
        g = max(d for d in (1, 2, 4, 8) if ch % d == 0)
        return [nn.GroupNorm(g, ch)]
    return []


def _norm2d(rng: random.Random, ch: int) -> list:
    import torch.nn as nn

    return _norm(rng, ch, nn.BatchNorm2d)


def _head(ch: int, rng: random.Random) -> list:
    import torch.nn as nn

    layers: list = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if rng.random() < 0.4:
        hidden = rng.choice([32, 64, 128, 256])
        layers += [nn.Linear(ch, hidden), _act(rng)]
        ch = hidden
    return layers + [nn.Linear(ch, rng.choice([2, 10, 100]))]


def _cnn(rng: random.Random) -> Network:
    import torch.nn as nn

    ch, hw = rng.choice([1, 3, 3]), rng.choice([8, 12, 16, 28, 32, 48])
    shape = (ch, hw)  # the input, before the layers shrink hw
    layers: list = []
    for _ in range(rng.randint(1, 5)):
        out, k = rng.choice([4, 8, 16, 24, 32, 48, 64, 96, 128]), rng.choice([1, 3, 3, 3, 5, 7])
        stride = 2 if hw >= 8 and rng.random() < 0.25 else 1
        layers += [nn.Conv2d(ch, out, k, stride=stride, padding=k // 2), *_norm2d(rng, out), _act(rng)]
        hw = (hw + 2 * (k // 2) - k) // stride + 1
        if hw >= 4 and rng.random() < 0.5:
            layers.append(rng.choice([nn.MaxPool2d, nn.AvgPool2d])(2))
            hw //= 2
        ch = out
    if rng.random() < 0.5:
        layers += [nn.Flatten(), nn.Linear(ch * hw * hw, rng.choice([32, 64, 128])), _act(rng)]
        layers.append(nn.Linear(layers[-2].out_features, 10))
    else:
        layers += _head(ch, rng)
    return Network(nn.Sequential(*layers), _image(*shape), "cnn")


def _res_block(ch: int, rng: random.Random) -> Any:
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            k = rng.choice([3, 3, 5])
            self.body = nn.Sequential(nn.Conv2d(ch, ch, k, padding=k // 2, bias=False), *_norm2d(rng, ch), _act(rng),
                                      nn.Conv2d(ch, ch, k, padding=k // 2, bias=False), *_norm2d(rng, ch))
            self.act = _act(rng)

        def forward(self, x: Any) -> Any:
            return self.act(self.body(x) + x)

    return Block()


def _resnet(rng: random.Random) -> Network:
    import torch.nn as nn

    cin, hw = rng.choice([1, 3]), rng.choice([12, 16, 32, 32, 48])
    hw0 = hw
    ch = rng.choice([8, 16, 24, 32, 64])
    layers: list = [nn.Conv2d(cin, ch, 3, padding=1, bias=False), *_norm2d(rng, ch), _act(rng)]
    for stage in range(rng.randint(1, 3)):
        for _ in range(rng.randint(1, 2)):
            layers.append(_res_block(ch, rng))
        if stage < 2 and hw >= 8:
            out = ch * 2 if rng.random() < 0.7 else ch
            layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1, bias=False), *_norm2d(rng, out), _act(rng)]
            ch, hw = out, (hw + 1) // 2
    return Network(nn.Sequential(*layers, *_head(ch, rng)), _image(cin, hw0), "resnet")


def _mobile(rng: random.Random) -> Network:
    import torch.nn as nn

    cin, hw = 3, rng.choice([16, 32, 48, 64])
    ch = rng.choice([8, 16, 24, 32])
    layers: list = [nn.Conv2d(cin, ch, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(ch), _act(rng)]
    for _ in range(rng.randint(2, 6)):
        out = rng.choice([ch, ch, ch * 2, min(ch * 2, 256)])
        stride = 2 if rng.random() < 0.3 else 1
        k = rng.choice([3, 3, 5])
        expand = rng.choice([1, 1, 2, 4])
        mid = ch * expand
        block: list = []
        if expand > 1:
            block += [nn.Conv2d(ch, mid, 1, bias=False), nn.BatchNorm2d(mid), _act(rng)]
        block += [nn.Conv2d(mid, mid, k, stride=stride, padding=k // 2, groups=mid, bias=False), nn.BatchNorm2d(mid),
                  _act(rng), nn.Conv2d(mid, out, 1, bias=False), nn.BatchNorm2d(out)]
        if rng.random() < 0.6:
            block.append(_act(rng))
        layers += block
        ch = out
    return Network(nn.Sequential(*layers, *_head(ch, rng)), _image(cin, hw), "mobile")


def _grouped(rng: random.Random) -> Network:
    import torch
    import torch.nn as nn

    cin, hw = rng.choice([1, 3]), rng.choice([12, 16, 28, 32])
    hw0 = hw
    ch = rng.choice([16, 32, 64])

    class Branches(nn.Module):
        """Parallel grouped-conv branches, concatenated (ResNeXt / Inception style)."""

        def __init__(self, c: int) -> None:
            super().__init__()
            g = rng.choice([2, 4, 8, c // 4 or 1])
            half = c // 2
            self.a = nn.Sequential(nn.Conv2d(c, half, 1, bias=False), *_norm2d(rng, half), _act(rng))
            self.b = nn.Sequential(nn.Conv2d(c, half, 3, padding=1, groups=g if half % g == 0 and c % g == 0 else 1),
                                   *_norm2d(rng, half), _act(rng))
            self.residual = rng.random() < 0.5

        def forward(self, x: Any) -> Any:
            y = torch.cat([self.a(x), self.b(x)], dim=1)
            return y + x if self.residual else y

    layers: list = [nn.Conv2d(cin, ch, 3, padding=1), *_norm2d(rng, ch), _act(rng)]
    for _ in range(rng.randint(1, 4)):
        layers.append(Branches(ch))
        if hw >= 8 and rng.random() < 0.5:
            layers.append(nn.MaxPool2d(2))
            hw //= 2
    return Network(nn.Sequential(*layers, *_head(ch, rng)), _image(cin, hw0), "grouped")


def _unet(rng: random.Random) -> Network:
    import torch
    import torch.nn as nn

    cin, hw = rng.choice([1, 3]), rng.choice([16, 32, 32])
    base = rng.choice([8, 16, 24, 32])
    depth = rng.randint(1, 2)

    def conv(a: int, b: int) -> Any:
        return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), *_norm2d(rng, b), _act(rng))

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [base * 2**i for i in range(depth + 1)]
            self.inc = conv(cin, chans[0])
            self.down = nn.ModuleList(conv(chans[i], chans[i + 1]) for i in range(depth))
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in range(depth))
            self.dec = nn.ModuleList(conv(chans[i] * 2, chans[i]) for i in range(depth))
            self.out = nn.Conv2d(chans[0], rng.choice([1, 2, 4]), 1)

        def forward(self, x: Any) -> Any:
            skips = [self.inc(x)]
            for d in self.down:
                skips.append(d(self.pool(skips[-1])))
            y = skips.pop()
            for i in reversed(range(depth)):
                y = self.dec[i](torch.cat([self.up[i](y), skips.pop()], dim=1))
            return self.out(y)  # a per-pixel map: the step's loss is its mean, as the counter does

    return Network(UNet(), _image(cin, hw), "unet")


def _linear_stack(rng: random.Random, widths: list[int], *, norm_p: float, norms: tuple, act_p: float,
                  dropout_p: float) -> list:
    """``Linear`` layers through ``widths``, each followed, by chance, by a norm (one of ``norms``), an
    activation and dropout: the hidden layers of the ``mlp`` and ``tiny`` families."""
    import torch.nn as nn

    layers: list = []
    for a, b in zip(widths, widths[1:]):
        layers.append(nn.Linear(a, b))
        if rng.random() < norm_p:  # one norm is taken without a draw, as the mlp family always did
            layers.append((rng.choice(norms) if len(norms) > 1 else norms[0])(b))
        if rng.random() < act_p:
            layers.append(_act(rng))
        if rng.random() < dropout_p:
            layers.append(nn.Dropout(0.1))
    return layers


def _mlp(rng: random.Random) -> Network:
    import torch.nn as nn

    width = rng.choice([8, 16, 32, 64, 256, 784, 1024, 3072, 4096])
    if rng.random() < 0.4:  # wide: weights of 32 MB and more, whose optimizer update streams from memory
        # and whose new tensors (Adam's sqrt and div) take fresh pages every step
        widths = [width] + [rng.choice([2048, 3072, 4096]) for _ in range(rng.randint(2, 3))]
    else:
        widths = [width] + [rng.choice([8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]) for _ in range(rng.randint(1, 5))]
    layers = _linear_stack(rng, widths, norm_p=0.2, norms=(nn.LayerNorm,), act_p=0.8, dropout_p=0.15)
    layers.append(nn.Linear(widths[-1], rng.choice([2, 10, 100])))
    return Network(nn.Sequential(*layers), _vector(width), "mlp")


def _rnn(rng: random.Random) -> Network:
    import torch.nn as nn

    vocab, seq = rng.choice([100, 1000, 5000]), rng.choice([8, 16, 24, 32])
    dim, hidden = rng.choice([16, 32, 64, 128]), rng.choice([32, 64, 128, 256])
    cell = rng.choice([nn.GRU, nn.LSTM])
    layers, bidir = rng.randint(1, 2), rng.random() < 0.25

    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            self.rnn = cell(dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidir)
            self.head = nn.Linear(hidden * (2 if bidir else 1), rng.choice([2, 10]))

        def forward(self, x: Any) -> Any:
            out, _ = self.rnn(self.emb(x))
            return self.head(out[:, -1])

    return Network(Recurrent(), _tokens(vocab, seq), "rnn")


def _transformer(rng: random.Random) -> Network:
    vocab, seq = rng.choice([500, 2000, 10000]), rng.choice([16, 32, 64, 128])
    heads = rng.choice([1, 2, 4, 8])
    dim = heads * rng.choice([8, 16, 32])
    return _encoder(rng, vocab, seq, heads, dim, dim * rng.choice([1, 2, 4]), (1, 3), "transformer")


def _encoder(rng: random.Random, vocab: int, seq: int, heads: int, dim: int, ff: int, depth: tuple[int, int],
            family: str) -> Network:
    """A token classifier: embedding, ``nn.TransformerEncoder`` (which runs
    ``scaled_dot_product_attention``), layer norm, mean over tokens, linear head. Dropout,
    activation, norm placement, the number of layers (within ``depth``) and the classes are drawn
    from ``rng``, in that order."""
    import torch.nn as nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout=rng.choice([0.0, 0.1]), batch_first=True,
                                               activation=rng.choice(["relu", "gelu"]), norm_first=rng.random() < 0.5)
            self.enc = nn.TransformerEncoder(layer, rng.randint(*depth), enable_nested_tensor=False)
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, rng.choice([2, 10, 100]))

        def forward(self, x: Any) -> Any:
            return self.head(self.norm(self.enc(self.emb(x))).mean(dim=1))

    return Network(Encoder(), _tokens(vocab, seq), family)


def _embed(rng: random.Random) -> Network:
    import torch.nn as nn

    # a 200,000-row table (13–100 MB) outgrows every cache; from 32 MiB its dense gradient and Adam's
    # temporaries are new tensors that take fresh pages each step (features.FRESH_BYTES)
    vocab, seq = rng.choice([1000, 10000, 50000, 200000]), rng.choice([16, 64, 256])
    dim = rng.choice([16, 32, 64, 128])

    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bag = rng.random() < 0.5
            self.emb = nn.EmbeddingBag(vocab, dim, mode="mean") if self.bag else nn.Embedding(vocab, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, rng.choice([32, 64, 256])), _act(rng))
            self.head = nn.Linear(self.mlp[0].out_features, rng.choice([2, 4, 20]))

        def forward(self, x: Any) -> Any:
            h = self.emb(x) if self.bag else self.emb(x).mean(dim=1)
            return self.head(self.mlp(h))

    return Network(Bag(), _tokens(vocab, seq), "embed")


def _tiny(rng: random.Random) -> Network:
    from green_estimate.calibration.networks_tiny import build_tiny

    return build_tiny(rng)


def _seq(rng: random.Random) -> Network:
    from green_estimate.calibration.networks_seq import build_seq

    return build_seq(rng)


def _lm(rng: random.Random) -> Network:
    from green_estimate.calibration.networks_lm import build_lm

    return build_lm(rng)


_BUILDERS: dict[str, Callable[[random.Random], Network]] = {
    "cnn": _cnn, "resnet": _resnet, "mobile": _mobile, "grouped": _grouped, "unet": _unet, "mlp": _mlp,
    "rnn": _rnn, "transformer": _transformer, "embed": _embed, "seq": _seq, "tiny": _tiny, "lm": _lm,
}


def build_network(family: str, seed: int, device: str) -> Network:
    """The network ``family`` draws with ``seed``, its parameters on ``device`` (``meta`` for counting).
    ``family`` is one of :data:`FAMILIES`, of the GPU suite's
    :data:`~green_estimate.calibration.networks_gpu.GPU_FAMILIES`, or ``reference`` (the standard
    models of :mod:`~green_estimate.calibration.references`, which calibration measures and never fits).

    Raises:
        KeyError: an unknown family.
    """
    import torch

    builder = _BUILDERS.get(family)
    if family == REFERENCE_FAMILY:  # standard models (calibration/references.py): the seed picks one
        from green_estimate.calibration.references import build_reference

        builder = lambda rng: build_reference(seed)  # noqa: E731
    elif builder is None:
        from green_estimate.calibration.networks_gpu import BUILDERS

        builder = BUILDERS[family]
    rng = random.Random(f"{family}:{seed}")
    with torch.device(device):
        torch.manual_seed(seed)
        net = builder(rng)
    return net
