"""Benchmark: does a profile predict unseen models' training steps on *this* machine? One run, end to end.

In one process: print the machine; calibrate it (full, then quick suite, each timed); then, for
models that the calibration's network generator never builds (a depthwise-separable net, a
grouped-conv net, U-Nets with transposed convs and with bilinear upsampling, GRU and LSTM classifiers, a small ViT, an MLP-Mixer,
tiny and wide MLPs, LeNet-5, a VGG- and a ResNet-style net, the study's SimpleCNN, a recommender's
embedding bags, a fastText classifier with hashed bigrams, two 1-D convolution nets: a TCN and
wav2vec 2.0's feature encoder, a small GPT-style causal language model, and an EfficientNet-style net of
inverted bottlenecks with squeeze-and-excitation), count one
training step (forward, loss, backward, Adam, batch 64) and price it with each profile, then
measure the same step for real (glibc's malloc settled as calibration has it, warm-up, 5 windows
of ≥ 0.3 s, median; in one pass over the list *before* calibrating and two after, each model's
measured time the median of its three passes: on a shared VM the machine's speed drifts by tens of
percent within minutes, and a calibration takes ten; the spread between passes is printed as that
drift). Before each measurement it times the machine's pace (green_estimate/pace.py: a fixed 1 ms
reference step, 0.1 s); a model's pace against a profile is the median over its passes of that time
over the profile's baseline (for a profile calibrated in this run, its calibration's median pace).
Prints each model's error, whether it fell inside the 90 % interval and its pace, and per profile
the median error, the share within ±15 % and the coverage — of all models, and of those measured at
pace (within ×1.25), a diagnostic that tells the machine's moods from the method's errors — and
how many each pass's time held alone (a single measurement, like a reference architecture's in
calibration, drifts more than the median of three).

    python tests/benchmarks/bench_accuracy.py                       # calibrate full + quick here, and the shipped default
    python tests/benchmarks/bench_accuracy.py --threads 1 --profiles default   # the shipped profile on a "foreign" CPU
    python tests/benchmarks/bench_accuracy.py --profiles quick --json out.json
    python tests/benchmarks/bench_accuracy.py --summarize out.json   # a stored run's summaries again, no measuring
    python tests/benchmarks/bench_accuracy.py --precision bf16 --profiles full,quick
                                    # every step under bf16 autocast, its profiles calibrated in bf16
    ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
        python tests/benchmarks/bench_accuracy.py --threads 1 --profiles default --passes-before 0
                                    # the shipped profile on a CPU whose kernels have no AVX (and 1 thread)

Every figure in docs/performance.md's accuracy table comes from one run of this script.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from green_estimate.allocator import settle  # noqa: E402
from green_estimate.calibration.incontext import make_step  # noqa: E402
from green_estimate.counting.counter import count_workload  # noqa: E402
from green_estimate.errors import GreenEstimateError  # noqa: E402
from green_estimate.examples.simple_cnn import build_model as simple_cnn  # noqa: E402
from green_estimate.loading import Workload  # noqa: E402
from green_estimate.pace import OFF_PACE, ReferenceTimer, off_pace, pace_probe_for  # noqa: E402
from green_estimate.predict import predict_report
from green_estimate.profile import Profile
from green_estimate.profile_store import check_precision_matches, read_profile, shipped_cpu_profile  # noqa: E402
from green_estimate.training_plan import TrainingPlan  # noqa: E402
from green_estimate.transfer import reference_factors  # noqa: E402

BATCH = 64
# Environment variables that make torch's kernels use fewer vector instructions: a CPU other than this
# one, for the shipped profile's transfer (docs/performance.md, run F)
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def lenet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def vgg_small() -> nn.Module:
    def block(a: int, b: int) -> list:
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
    return nn.Sequential(*block(3, 16), *block(16, 16), nn.MaxPool2d(2), *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10))


class Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.a(x) + x)


def resnet_small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 24, 3, padding=1, bias=False), nn.BatchNorm2d(24), nn.ReLU(), Res(24), nn.MaxPool2d(2),
                         Res(24), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


def depthwise_separable() -> nn.Module:
    def dw(a: int, b: int, s: int) -> list:
        return [nn.Conv2d(a, a, 3, s, 1, groups=a, bias=False), nn.BatchNorm2d(a), nn.ReLU6(),
                nn.Conv2d(a, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU6()]
    return nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(), *dw(32, 64, 1),
                         *dw(64, 128, 2), *dw(128, 128, 1), *dw(128, 256, 2), *dw(256, 256, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


class NeXtBlock(nn.Module):
    def __init__(self, c: int, groups: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 3, padding=1, groups=groups, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.f(x) + x)


def grouped_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), NeXtBlock(64, 8),
                         nn.MaxPool2d(2), NeXtBlock(64, 8), nn.MaxPool2d(2), NeXtBlock(64, 16),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class UNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        def c(a: int, b: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1),
                                 nn.BatchNorm2d(b), nn.ReLU())
        self.e1, self.e2, self.e3 = c(1, 16), c(16, 32), c(32, 64)
        self.u2, self.d2 = nn.ConvTranspose2d(64, 32, 2, 2), c(64, 32)
        self.u1, self.d1 = nn.ConvTranspose2d(32, 16, 2, 2), c(32, 16)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.e1(x)
        b = self.e2(nn.functional.max_pool2d(a, 2))
        m = self.e3(nn.functional.max_pool2d(b, 2))
        y = self.d2(torch.cat([self.u2(m), b], 1))
        return self.out(self.d1(torch.cat([self.u1(y), a], 1)))


class UNetBilinear(nn.Module):
    """A segmentation U-Net whose decoder upsamples by bilinear interpolation (``nn.Upsample``, as the
    ``bilinear=True`` U-Net of milesial/Pytorch-UNet), not transposed convolutions: 3×64×64 images, four
    levels of 16-64 channels, two classes per pixel."""

    def __init__(self) -> None:
        super().__init__()
        def c(a: int, b: int, mid: int | None = None) -> nn.Module:
            mid = mid or b
            return nn.Sequential(nn.Conv2d(a, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                                 nn.Conv2d(mid, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU())
        self.e1, self.e2, self.e3, self.e4 = c(3, 16), c(16, 32), c(32, 64), c(64, 64)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.d3, self.d2, self.d1 = c(128, 32, 64), c(64, 16, 32), c(32, 16, 16)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.e1(x)
        b = self.e2(nn.functional.max_pool2d(a, 2))
        m = self.e3(nn.functional.max_pool2d(b, 2))
        y = self.e4(nn.functional.max_pool2d(m, 2))
        y = self.d3(torch.cat([m, self.up(y)], 1))
        y = self.d2(torch.cat([b, self.up(y)], 1))
        return self.out(self.d1(torch.cat([a, self.up(y)], 1)))


class GRUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.GRU(32, 256, num_layers=2, batch_first=True)
        self.head = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])


class LSTMText(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20000, 64)
        self.rnn = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(x))[0].mean(1))


class ViT(nn.Module):
    def __init__(self, dim: int = 128, depth: int = 4, heads: int = 4) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, 4, 4)
        self.pos = nn.Parameter(torch.zeros(1, 64, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.enc = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.enc(t).mean(1))


class MixerBlock(nn.Module):
    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.tok = nn.Sequential(nn.Linear(tokens, tokens * 2), nn.GELU(), nn.Linear(tokens * 2, tokens))
        self.ch = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.tok(self.n1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.ch(self.n2(x))


def mixer() -> nn.Module:
    class Mixer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 96, 4, 4)
            self.blocks = nn.Sequential(*[MixerBlock(64, 96) for _ in range(4)])
            self.head = nn.Sequential(nn.LayerNorm(96), nn.Linear(96, 10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.blocks(self.patch(x).flatten(2).transpose(1, 2)).mean(1))
    return Mixer()


class GPTBlock(nn.Module):
    """A pre-norm GPT block written out (as nanoGPT's): one QKV projection, causal
    ``scaled_dot_product_attention``, an output projection, and a GELU MLP, with residual adds."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc, self.out = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(c, 2))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(torch.nn.functional.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A small causal language model (nanoGPT's layout): token and position embeddings, 4 blocks of
    width 256, a final norm and a head over a 4,096-token vocabulary tied to the token embedding; the
    step's loss is per-token cross-entropy over the vocabulary (64 sequences of 64 tokens)."""

    def __init__(self, vocab: int = 4096, seq: int = 64, dim: int = 256, heads: int = 4, depth: int = 4) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
        self.blocks = nn.Sequential(*[GPTBlock(dim, heads) for _ in range(depth)])
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln(self.blocks(x)))


class SqueezeExcite(nn.Module):
    def __init__(self, ch: int, reduce: int = 4) -> None:
        super().__init__()
        self.down, self.up = nn.Conv2d(ch, ch // reduce, 1), nn.Conv2d(ch // reduce, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.up(torch.nn.functional.silu(self.down(s))))


class MBConv(nn.Module):
    """EfficientNet's inverted bottleneck: 1×1 expansion, depthwise 3×3, squeeze-and-excitation, 1×1
    projection, batch norm and SiLU, a residual add where the shape allows."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.SiLU(),
            SqueezeExcite(mid), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def efficientnet_small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU(),
                         MBConv(32, 32, 1), MBConv(32, 48, 2), MBConv(48, 48, 1), MBConv(48, 96, 2), MBConv(96, 96, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, 10))


class SparseTables(nn.Module):
    """A recommender's sparse side (as DLRM's): 8 categorical features, 4 ids each, summed per table by
    its own embedding bag, concatenated into a small MLP."""

    def __init__(self) -> None:
        super().__init__()
        rows = [1000, 5000, 20000, 100000, 1000, 50000, 200000, 10000]
        self.tables = nn.ModuleList(nn.EmbeddingBag(n, 32, mode="sum") for n in rows)
        self.top = nn.Sequential(nn.Linear(8 * 32, 128), nn.ReLU(), nn.Linear(128, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(torch.cat([t(x[:, i]) for i, t in enumerate(self.tables)], dim=1))


class FastTextBigrams(nn.Module):
    """fastText's classifier: the mean of word embeddings and of hashed bigram embeddings, one linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.words = nn.EmbeddingBag(20000, 64, mode="mean")
        self.bigrams = nn.EmbeddingBag(200000, 64, mode="mean")
        self.head = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pairs = (x[:, :-1] * 20000 + x[:, 1:]) % 200000
        return self.head(torch.cat([self.words(x), self.bigrams(pairs)], dim=1))


def wav2vec_encoder() -> nn.Module:
    """wav2vec 2.0's feature encoder (Baevski et al., 2020) at 64 channels instead of 512, on one second
    of 8 kHz audio: seven convolutions (kernels 10, 3 ×4, 2 ×2; strides 5, 2, ...), group norm on the
    first, GELU; here with a mean over time and a 35-keyword head."""
    class Encoder(nn.Module):
        def __init__(self, ch: int = 64) -> None:
            super().__init__()
            layers: list[nn.Module] = [nn.Conv1d(1, ch, 10, 5, bias=False), nn.GroupNorm(ch, ch), nn.GELU()]
            for k in (3, 3, 3, 3, 2, 2):
                layers += [nn.Conv1d(ch, ch, k, 2, bias=False), nn.GELU()]
            self.f = nn.Sequential(*layers)
            self.head = nn.Linear(ch, 35)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.f(x).mean(-1))
    return Encoder()


class TemporalBlock(nn.Module):
    """A TCN block (Bai et al., 2018): two dilated causal convolutions (padded, then the tail cut off),
    ReLU and dropout, and a residual connection (a 1×1 convolution where the channels change)."""

    def __init__(self, a: int, b: int, k: int, dilation: int) -> None:
        super().__init__()
        self.cut = (k - 1) * dilation
        self.c1 = nn.Conv1d(a, b, k, padding=self.cut, dilation=dilation)
        self.c2 = nn.Conv1d(b, b, k, padding=self.cut, dilation=dilation)
        self.drop = nn.Dropout(0.1)
        self.down = nn.Conv1d(a, b, 1) if a != b else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(torch.relu(self.c1(x)[..., :-self.cut]))
        y = self.drop(torch.relu(self.c2(y)[..., :-self.cut]))
        return torch.relu(y + self.down(x))


def tcn() -> nn.Module:
    class TCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(*[TemporalBlock(40 if i == 0 else 64, 64, 3, 2**i) for i in range(4)])
            self.head = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.blocks(x)[..., -1])
    return TCN()


def mlp(widths: list[int]) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _tokens(batch: int) -> torch.Tensor:
    return torch.randint(0, 20000, (batch, 48))


def _categorical(batch: int) -> torch.Tensor:
    return torch.randint(0, 1000, (batch, 8, 4))


def _document(batch: int) -> torch.Tensor:
    return torch.randint(0, 20000, (batch, 256))


def _seq(batch: int) -> torch.Tensor:
    return torch.randn(batch, 64, 32)


def _text(batch: int) -> torch.Tensor:
    return torch.randint(0, 4096, (batch, 64))


MODELS: dict[str, tuple] = {  # name → (build, per-sample input shape or example_input)
    "depthwise-separable": (depthwise_separable, (3, 32, 32)),
    "resnext-grouped": (grouped_net, (3, 32, 32)),
    "unet-transposed": (UNet, (1, 32, 32)),
    "unet-bilinear-64px": (UNetBilinear, (3, 64, 64)),
    "gru-2x256-seq64": (GRUNet, _seq),
    "lstm-text-seq48": (LSTMText, _tokens),
    "vit-small": (ViT, (3, 32, 32)),
    "mlp-mixer": (mixer, (3, 32, 32)),
    "mlp-wide-3072-4096-4096": (lambda: mlp([3072, 4096, 4096, 10]), (3, 32, 32)),
    "mlp-tiny-64-32": (lambda: mlp([64, 32, 10]), (64,)),
    "lenet5": (lenet, (1, 28, 28)),
    "vgg-small": (vgg_small, (3, 32, 32)),
    "resnet-small": (resnet_small, (3, 32, 32)),
    "simplecnn-4conv-3lin": (lambda: simple_cnn(4, 3), (1, 28, 28)),
    "sparse-8-tables": (SparseTables, _categorical),
    "fasttext-bigrams-seq256": (FastTextBigrams, _document),
    "wav2vec-encoder-64ch-8k": (wav2vec_encoder, (1, 8000)),
    "tcn-4x64-k3-seq256": (tcn, (40, 256)),
    "gpt-4x256-vocab4096": (GPT, _text),
    "efficientnet-se-32px": (efficientnet_small, (3, 32, 32)),
}


def workload(name: str) -> Workload:
    build, inp = MODELS[name]
    if callable(inp):
        return Workload(name=name, build=build, example_input=inp)
    return Workload(name=name, build=build, input_shape=inp)


def measure_step_s(name: str, repeats: int = 5, window_s: float = 0.3, precision: str = "fp32") -> float:
    """Median seconds per real training step, exactly the step the counter counts (under ``precision``),
    in the allocator state calibration measures in (green_estimate/allocator.py)."""
    settle()
    torch.manual_seed(0)
    w = workload(name)
    model = w.build()
    x = w.example_input(BATCH) if w.example_input else torch.randn(BATCH, *w.input_shape)
    step = make_step(model, (x,), "adam", precision=precision)
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < 0.3:
        step()
        n += 1
    iters = max(1, int(window_s / ((time.perf_counter() - t0) / n)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            step()
        times.append((time.perf_counter() - t) / iters)
    return statistics.median(times)


def pass_coverage(rows: list[dict], passes_s: dict[str, list[float]]) -> list[int]:
    """Per pass over the list, how many models' time in that pass alone lay inside their interval."""
    n = min(len(passes_s[r["model"]]) for r in rows)
    return [sum(r["interval_s"][0] <= passes_s[r["model"]][k] <= r["interval_s"][1] for r in rows) for k in range(n)]


def summarize(path: Path) -> None:
    """Print a stored run's (``--json``) per-profile summary and its per-pass coverage."""
    out = json.loads(Path(path).read_text())
    print(f"machine: {out['machine']}; steps in {out.get('precision', 'fp32')}; calibration "
          f"{', '.join(f'{k} {v:.0f} s' for k, v in out['calibration_s'].items())}")
    for pname, prof in out["profiles"].items():
        q, rows = prof["summary"], prof["rows"]
        print(f"profile {pname} ({prof['name']}): median error {100 * q['median_ape']:.1f}%, {q['within_15pct']}/"
              f"{q['models']} within ±15%, 90% interval covers {round(q['coverage_90'] * q['models'])}/{q['models']} "
              f"(the median of the passes); each pass alone: "
              f"{', '.join(str(c) for c in pass_coverage(rows, out['passes_s']))} of {len(rows)}")


def _quality(rows: list[dict]) -> dict:
    apes = [abs(r["error"]) for r in rows]
    return {"median_ape": statistics.median(apes), "within_15pct": sum(a <= 0.15 for a in apes), "models": len(rows),
            "coverage_90": sum(r["inside"] for r in rows) / len(rows)}


def machine() -> str:
    from green_estimate.fingerprint import cpu_fingerprint

    fp = cpu_fingerprint()  # the CPU's name as /proc/cpuinfo gives it, its identity and torch's instructions
    overrides = " ".join(f"{k}={os.environ[k]}" for k in ISA_VARIABLES if os.environ.get(k))
    return (f"{fp['cpu_model']} (cpu family/model/stepping {fp.get('cpu_id', '?')}, torch kernels {fp.get('isa', '?')}"
            f"{', set by ' + overrides if overrides else ''}), {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def calibrate_here(quick: bool, folder: Path, precision: str = "fp32") -> tuple[Profile, float]:
    from green_estimate.calibration.calibrator import calibrate

    t0 = time.perf_counter()
    res = calibrate(quick=quick, out=folder / ("quick.json" if quick else "full.json"), meter_kind="estimate",
                    precision=precision)
    return read_profile(res.profile_path, origin="this run"), time.perf_counter() - t0


def given_profiles(names: list[str], precision: str, error: Callable[[str], Any]) -> dict[str, Profile]:
    """The profile files among ``names`` (every name but full, quick and default), read and checked
    before anything is measured: a file that is missing or not a profile, or prices another precision
    than the run's, goes to ``error`` (argparse's, which exits) with the library's message."""
    out = {}
    for name in names:
        if name in ("full", "quick", "default"):
            continue
        try:
            out[name] = read_profile(Path(name))
            check_precision_matches(out[name], precision)
        except GreenEstimateError as e:
            error(f"--profiles {name}: {e}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="full,quick,default",
                    help="which profiles: full and quick (calibrated in this run), default (the shipped one), "
                         "or paths to profile files; comma-separated")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for everything (default: torch's)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    ap.add_argument("--keep", default=None, help="keep the profiles calibrated in this run in this folder")
    ap.add_argument("--passes", type=int, default=2,
                    help="measure every model this many times after calibrating, in separate passes over the list "
                         "(default 2): the spread between passes is this machine's drift, the floor under any "
                         "prediction error")
    ap.add_argument("--passes-before", type=int, default=1,
                    help="passes over the list before calibrating (default 1), so the measured times span the "
                         "calibration's time too")
    ap.add_argument("--models", default=None,
                    help="only these models (comma-separated names; default: all): a quick look, not the benchmark")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                    help="every step under this precision (bf16/fp16: torch.autocast of the CPU, fp16 with a "
                         "GradScaler), and the profiles calibrated in this run too; the shipped profile prices "
                         "fp32 only (default fp32)")
    ap.add_argument("--summarize", default=None, metavar="JSON",
                    help="print the summaries of a run stored with --json, with each pass's coverage, and exit")
    args = ap.parse_args()
    if args.summarize:
        summarize(Path(args.summarize))
        return
    if args.precision != "fp32" and "default" in args.profiles.split(","):
        ap.error(f"the shipped profile prices fp32 steps, not {args.precision}: leave 'default' out of --profiles")
    given = given_profiles(args.profiles.split(","), args.precision, ap.error)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.models:
        unknown = set(args.models.split(",")) - set(MODELS)
        if unknown:
            ap.error(f"unknown models {', '.join(sorted(unknown))}; the models are {', '.join(MODELS)}")
        for name in set(MODELS) - set(args.models.split(",")):
            del MODELS[name]
    print(f"machine: {machine()}; steps in {args.precision}", flush=True)
    profiles: dict[str, Profile] = {}
    calib_s: dict[str, float] = {}
    passes: dict[str, list[float]] = {name: [] for name in MODELS}
    reference_s: dict[str, list[float]] = {name: [] for name in MODELS}  # the pace step's seconds before each pass
    timer = ReferenceTimer()

    def measure_pass() -> None:
        for name in MODELS:
            reference_s[name].append(timer())
            passes[name].append(measure_step_s(name, precision=args.precision))

    for _ in range(args.passes_before):
        measure_pass()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for which in args.profiles.split(","):
            if which in ("full", "quick"):
                profiles[which], calib_s[which] = calibrate_here(which == "quick", folder, args.precision)
                iv = profiles[which].data["step_model"]["interval"]["time_s"]
                flags = (" --quick" if which == "quick" else "") + (f" --precision {args.precision}"
                                                                       if args.precision != "fp32" else "")
                print(f"calibrate --cpu{flags}: {calib_s[which]:.0f} s; "
                      f"leave-one-family-out median error {100 * iv['median_ape']:.1f}%", flush=True)
            elif which == "default":
                profiles["default"] = shipped_cpu_profile()
            else:
                profiles[which] = given[which]
        preds: dict[str, dict] = {p: {} for p in profiles}
        for name in MODELS:
            report = count_workload(workload(name), batch_size=BATCH, optimizer="adam", precision=args.precision)
            for pname, prof in profiles.items():
                preds[pname][name] = predict_report(report, plan=TrainingPlan(batch_size=BATCH, steps_given=1),
                                                    profile=prof)
        for _ in range(args.passes):
            measure_pass()
        measured = {name: statistics.median(v) for name, v in passes.items()}
    drift = {name: (max(v) - min(v)) / statistics.median(v) for name, v in passes.items()}
    n_passes = args.passes_before + args.passes
    print(f"\nmachine drift: the same step measured in {n_passes} passes ({args.passes_before} before calibrating) "
          f"differs by a median {100 * statistics.median(drift.values()):.1f}% (largest {100 * max(drift.values()):.1f}%)")
    if args.passes_before and args.passes:
        shift = statistics.median(statistics.median(v[args.passes_before:]) / statistics.median(v[:args.passes_before])
                                  for v in passes.values())
        print(f"after calibrating, steps took a median {shift:.2f}× their time before it")
    out: dict = {"machine": machine(), "precision": args.precision, "calibration_s": calib_s, "profiles": {},
                 "passes_s": passes, "passes_before": args.passes_before, "pace_reference_s": reference_s,
                 "median_pace_reference_s": statistics.median(t for v in reference_s.values() for t in v),
                 "median_pass_drift": statistics.median(drift.values())}
    print(f"pace: the reference step took {1e3 * min(min(v) for v in reference_s.values()):.2f}–"
          f"{1e3 * max(max(v) for v in reference_s.values()):.2f} ms before the measurements "
          f"(median {1e3 * out['median_pace_reference_s']:.2f} ms)")
    for pname in profiles:
        rows = []
        probe = pace_probe_for(profiles[pname], "cpu")  # None only where no probe holds the reference step
        baseline = probe.baseline_s if probe else None
        print(f"\nprofile {pname}: {profiles[pname].name} (made on {profiles[pname].device_name}"
              + (f"; pace baseline {1e3 * baseline:.2f} ms)" if baseline else ")"))
        for name in MODELS:
            pr = preds[pname][name]
            lo, hi = pr.time_interval()
            m = measured[name]
            err = (pr.time_s - m) / m
            pace = statistics.median(t / baseline for t in reference_s[name]) if baseline else None
            rows.append({"model": name, "predicted_s": pr.time_s, "interval_s": [lo, hi], "measured_s": m,
                         "error": err, "inside": lo <= m <= hi, "pace": pace})
            print(f"  {name:26s} pred {pr.time_s * 1e3:8.2f} ms [{lo * 1e3:8.2f}, {hi * 1e3:8.2f}]  measured "
                  f"{m * 1e3:8.2f} ms  err {100 * err:+6.1f}%  {'in ' if lo <= m <= hi else 'OUT'}"
                  + (f"  pace ×{pace:.2f}" if pace else ""))
        transfer = preds[pname][next(iter(MODELS))].profile.data.get("transfer")
        summary = {**_quality(rows), "pace_baseline_s": baseline,
                   "transfer": None if not transfer else {k: transfer[k] for k in ("from", "to", "reference_log_errors",
                                                                                   "log_error")}}
        summary["coverage_90_per_pass"] = pass_coverage(rows, passes)
        at_pace = [r for r in rows if baseline and not off_pace(r["pace"])]
        summary["at_pace"] = _quality(at_pace) if at_pace else None
        print(f"  → median error {100 * summary['median_ape']:.1f}%, {summary['within_15pct']}/{len(rows)} within ±15%, "
              f"90% interval covers {100 * summary['coverage_90']:.0f}% (each pass alone: "
              f"{', '.join(str(c) for c in summary['coverage_90_per_pass'])} of {len(rows)})"
              + (f"; transferred from {transfer['from']} (reference steps "
                 + reference_factors(transfer["reference_log_errors"])
                 + f"; interval widened ×{math.exp(transfer['log_error']):.2f})"
                 if transfer else ""))
        if at_pace and len(at_pace) < len(rows):
            a = summary["at_pace"]
            print(f"    at pace (×{1 / OFF_PACE:.2f}–×{OFF_PACE:.2f}; {len(at_pace)} of {len(rows)} models): median error "
                  f"{100 * a['median_ape']:.1f}%, {a['within_15pct']}/{a['models']} within ±15%, "
                  f"covers {100 * a['coverage_90']:.0f}%")
        step = profiles[pname].data.get("step_model")
        out["profiles"][pname] = {"name": profiles[pname].name, "summary": summary, "rows": rows,
                                  "leave_family_out": None if not step else {
                                      k: step["interval"]["time_s"][k] for k in ("median_ape", "within_15pct",
                                                                                  "coverage_unseen_family")}}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
