"""Benchmark: a published training run predicted from the model's config and its token count.

The run: **Llama 2 7B** pretraining (Touvron et al., "Llama 2: Open Foundation and Fine-Tuned Chat
Models", arXiv:2307.09288, 2023). Published figures: Table 1 — 2.0 T tokens, context 4k, global batch
4 M tokens; Table 2 — 184,320 GPU-hours on NVIDIA A100-80GB, "power consumption" 400 W per GPU
(peak power, not a measurement), 31.22 t CO2eq.

The prediction: the model is built from its published configuration with ``transformers``
(``LlamaConfig``: d 4096, 32 layers, 32 heads, FFN 11008, vocabulary 32,000; no weights are
downloaded or allocated — it is counted on the meta device) and priced with the datasheet profile
``datasheet:a100-sxm4-80gb`` in bf16 (autocast, flash attention). One micro-batch of one 4096-token
sequence is counted (forward, loss, backward) and the Adam update separately, and the run is::

    GPU-seconds = (tokens / 4096) · t(forward+backward of one sequence) + (tokens / 4 M) · t(Adam update)

i.e. the optimizer update runs once per global step *across the cluster* — the sharded (ZeRO /
FSDP) optimizer large runs use. Not modelled (so the prediction is a lower bound of what was paid):
gradient communication, activation recomputation, data loading, evaluation, failures and restarts,
and GPUs waiting for each other. Run::

    python tests/benchmarks/bench_published_run.py
"""
from __future__ import annotations

import dataclasses
import time

PUBLISHED_GPU_HOURS = 184_320
PUBLISHED_POWER_W = 400
TOKENS = 2.0e12
SEQ = 4096
GLOBAL_BATCH_TOKENS = 4 * 1024 * 1024  # "4M tokens": 1024 sequences of 4096
PROFILE = "datasheet:a100-sxm4-80gb"


def build():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5,
        tie_word_embeddings=False))


def main() -> None:
    import torch

    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import Workload
    from green_estimate.predict import count_settings
    from green_estimate.pricing import price_step
    from green_estimate.profile_store import resolve_profile

    t0 = time.perf_counter()
    profile = resolve_profile(PROFILE, precision="bf16")
    ids = lambda n: {"input_ids": torch.zeros(n, SEQ, dtype=torch.long),  # noqa: E731
                     "labels": torch.zeros(n, SEQ, dtype=torch.long)}
    report = count_workload(Workload(name="llama-2-7b", build=build, example_input=ids), batch_size=1,
                            optimizer="adam", precision="bf16", **count_settings(profile))
    count_s = time.perf_counter() - t0

    def priced(phases: tuple[str, ...]) -> tuple[float, float]:
        part = dataclasses.replace(report, ops=[o for o in report.ops if o.phase in phases])
        classes = price_step(part, profile)
        return sum(c.time_s for c in classes.values()), sum(c.energy_j for c in classes.values())

    fb_s, fb_j = priced(("forward", "backward"))
    opt_s, opt_j = priced(("optimizer",))
    sequences = TOKENS / SEQ
    steps = TOKENS / GLOBAL_BATCH_TOKENS
    gpu_s = sequences * fb_s + steps * opt_s
    energy_j = sequences * fb_j + steps * opt_j
    gpu_h = gpu_s / 3600
    tot = report.totals()
    att = report.by_class().get("attention")
    print(f"model              Llama 2 7B from LlamaConfig: {report.parameters:,} parameters")
    print(f"profile            {profile.name} ({profile.provenance}); precision bf16, attention {report.attention_backends}")
    print(f"one sequence       {SEQ} tokens: {tot.flops:.4e} FLOPs (step incl. Adam), attention {att.flops if att else 0:.3e}")
    print(f"per sequence       forward+backward {fb_s * 1e3:.1f} ms, {fb_j:.1f} J (predicted, datasheet)")
    print(f"per global step    Adam update {opt_s * 1e3:.1f} ms, {opt_j:.1f} J (once per {GLOBAL_BATCH_TOKENS:,} tokens)")
    print(f"run                {TOKENS:.2e} tokens = {sequences:.4e} sequences, {steps:,.0f} optimizer steps")
    print(f"GPU-hours          predicted {gpu_h:,.0f}  published {PUBLISHED_GPU_HOURS:,}  "
          f"ratio predicted/published {gpu_h / PUBLISHED_GPU_HOURS:.3f}")
    six_nd = 6 * report.parameters * TOKENS
    print(f"6·N·D              {six_nd:.3e} FLOPs; at the published GPU-hours that is "
          f"{six_nd / (PUBLISHED_GPU_HOURS * 3600) / 312e12:.1%} of the A100's 312 TFLOPS bf16 peak")
    published_mwh = PUBLISHED_GPU_HOURS * PUBLISHED_POWER_W / 1e6
    print(f"energy             predicted {energy_j / 3.6e9:,.1f} MWh (GPU boards only)  published estimate "
          f"{published_mwh:,.1f} MWh (GPU-hours × 400 W peak, not measured)  ratio {energy_j / 3.6e9 / published_mwh:.3f}")
    print(f"count + price      {count_s:.1f} s")


if __name__ == "__main__":
    main()
