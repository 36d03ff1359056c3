"""A tiny GPT-2 called without labels: it returns only logits (batch, tokens, vocabulary)."""
import torch

from hf_gpt2_tiny import T, VOCAB, build_model  # noqa: F401 - a sibling file, as users split theirs


def example_input(batch_size):
    return {"input_ids": torch.randint(0, VOCAB, (batch_size, T))}
