"""A tiny GPT-2 from a config (no download); labels make the model return its own loss."""
import torch

T, VOCAB = 16, 100


def build_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=T, n_embd=32, n_layer=2, n_head=2,
                                      bos_token_id=0, eos_token_id=0))


def example_input(batch_size):
    ids = torch.randint(0, VOCAB, (batch_size, T))
    return {"input_ids": ids, "labels": ids}
