"""A small GPT-2-style causal language model built from a ``transformers`` config (no download).

Needs ``pip install transformers``. The model computes its own loss from ``labels`` (per-token
cross-entropy on the shifted logits), and green-estimate counts that loss as the step's loss.

    green-estimate count green_estimate/examples/hf_gpt2_lm.py --batch-size 8
"""
import torch

SEQ_LEN = 128
VOCAB_SIZE = 8000


def gpt2_lm(vocab_size, seq_len, d_model, layers, heads):
    """A GPT-2 language-model head model of this shape, from a config (no weights downloaded)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, n_positions=seq_len, n_embd=d_model, n_layer=layers, n_head=heads,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


def token_batch(batch_size, vocab_size, seq_len):
    """Random token ids, which are also the labels (the model shifts them for next-token loss)."""
    ids = torch.randint(0, vocab_size, (batch_size, seq_len))
    # a dict is passed to the model as keywords: model(input_ids=..., labels=...)
    return {"input_ids": ids, "labels": ids}


def build_model():
    return gpt2_lm(VOCAB_SIZE, SEQ_LEN, d_model=256, layers=4, heads=4)


def example_input(batch_size):
    return token_batch(batch_size, VOCAB_SIZE, SEQ_LEN)
