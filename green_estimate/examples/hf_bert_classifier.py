"""A small BERT-style encoder classifier built from a ``transformers`` config (no download).

Needs ``pip install transformers``. With ``labels`` the model returns its own loss (cross-entropy
on its ``(batch, num_labels)`` logits), which green-estimate counts as the step's loss. No
``attention_mask``: an all-ones mask is the same work, and transformers reads the mask's values
(to skip an all-ones one), which the meta device cannot do.

    green-estimate count green_estimate/examples/hf_bert_classifier.py --batch-size 32
"""
import torch

SEQ_LEN = 128
VOCAB_SIZE = 30522


def build_model():
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=SEQ_LEN, num_labels=2)
    return BertForSequenceClassification(config)


def example_input(batch_size):
    return {
        "input_ids": torch.randint(0, VOCAB_SIZE, (batch_size, SEQ_LEN)),
        "labels": torch.zeros(batch_size, dtype=torch.long),
    }
