"""A 1.3 B-parameter GPT-2-style language model (GPT-3 XL shape) from a ``transformers`` config.

No weights are downloaded: the model is built from a config, and green-estimate counts it on the
meta device (no memory allocated). Shape as GPT-3 XL (Brown et al. 2020, table 2.1: 24 layers,
d_model 2048, 2048-token context), with GPT-2's vocabulary and 16 heads of 128.

    green-estimate predict green_estimate/examples/gpt2_1p3b.py --profile datasheet:h100-sxm \\
        --batch-size 8 --grad-accum 4 --gpus 64 --nodes 8 --interconnect nvlink4,ib-ndr --steps 1000
"""
from green_estimate.examples.hf_gpt2_lm import gpt2_lm, token_batch

SEQ_LEN = 2048
VOCAB_SIZE = 50257


def build_model():
    return gpt2_lm(VOCAB_SIZE, SEQ_LEN, d_model=2048, layers=24, heads=16)


def example_input(batch_size):
    return token_batch(batch_size, VOCAB_SIZE, SEQ_LEN)
