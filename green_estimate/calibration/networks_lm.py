"""Seeded random causal language models: the ``lm`` family.

A language model's step ends in a head over its whole vocabulary and per-token cross-entropy: a
log-softmax and a loss over tokens × vocabulary, tens of MB, and the head's GEMM over every token of
the batch. No other family's loss has more than 100 classes; before this family, a full profile priced
a small GPT's 67 MB log-softmax at 0.02× its time in the step, and a quick one the GPT's step 27% low
(docs/performance.md, "Language models and ops beyond the cache"). The benchmark's language model
(``tests/benchmarks``) is written apart and not drawn here.
"""
from __future__ import annotations

import random
from typing import Any

from green_estimate.calibration.networks import Network, _tokens


def build_lm(rng: random.Random) -> Network:
    """A causal language model: token and learned position embeddings, ``nn.TransformerEncoder``
    layers under a causal mask, layer norm, and a head over the whole vocabulary (its own weight, or
    the embedding's), so the step's loss is per-token cross-entropy over 1,000–32,000 classes: the
    large log-softmax, loss and head GEMM of language models, which a classifier's few classes never
    reach."""
    import torch
    import torch.nn as nn

    heads = rng.choice([2, 4, 8])
    dim = heads * rng.choice([16, 32, 64])
    # at most 4 Mi table entries (a 16 MB table): the head's GEMM over the vocabulary stays within
    # the suite's step FLOPs at a batch of a few sequences
    vocab = rng.choice([v for v in (1000, 4000, 8000, 16000, 32000) if v * dim <= 2**22])
    seq = rng.choice([32, 64, 128])
    ff, layers = dim * rng.choice([2, 4]), rng.randint(1, 3)
    act, norm_first, dropout = rng.choice(["relu", "gelu"]), rng.random() < 0.7, rng.choice([0.0, 0.1])
    tied = rng.random() < 0.5

    class LM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
            layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout=dropout, batch_first=True, activation=act,
                                               norm_first=norm_first)
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, vocab, bias=not tied)
            if tied:
                self.head.weight = self.emb.weight
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq), persistent=False)

        def forward(self, x: Any) -> Any:
            h = self.emb(x) + self.pos(torch.arange(x.shape[1], device=x.device))
            return self.head(self.norm(self.blocks(h, mask=self.mask, is_causal=True)))

    return Network(LM(), _tokens(vocab, seq), "lm")
