"""A small GPT-2-style causal language model built from a ``transformers`` config (no download).

Needs ``pip install transformers``. The model computes its own loss from ``labels`` (per-token
cross-entropy on the shifted logits), and green-estimate counts that loss as the step's loss.

    green-estimate count green_estimate/examples/hf_gpt2_lm.py --batch-size 8
"""
import torch

SEQ_LEN = 128
VOCAB_SIZE = 8000


def build_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=VOCAB_SIZE, n_positions=SEQ_LEN, n_embd=256, n_layer=4, n_head=4,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


def example_input(batch_size):
    ids = torch.randint(0, VOCAB_SIZE, (batch_size, SEQ_LEN))
    # a dict is passed to the model as keywords: model(input_ids=..., labels=...)
    return {"input_ids": ids, "labels": ids}
