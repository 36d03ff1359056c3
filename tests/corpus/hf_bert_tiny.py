"""A tiny BERT classifier from a config (no download); labels make the model return its own loss."""
import torch

T, VOCAB = 16, 100


def build_model():
    from transformers import BertConfig, BertForSequenceClassification

    return BertForSequenceClassification(BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=T, num_labels=3))


def example_input(batch_size):
    return {"input_ids": torch.randint(0, VOCAB, (batch_size, T)), "labels": torch.zeros(batch_size, dtype=torch.long)}
