"""Benchmark: count one training step of a 6.4-billion-parameter transformer encoder.

d_model 4096, 32 layers, FFN 16384, 32 heads, sequences of 2048, batch 8, Adam. Goal (issue 2):
≤ 10 s wall and ≤ 1 GiB peak resident memory on a 2-core machine, including ``import torch``.
Run it as its own process so the peak memory is this job's alone:

    python tests/benchmarks/bench_count_transformer.py
"""
from __future__ import annotations

import resource
import time

T0 = time.perf_counter()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from green_estimate.counting.counter import count_workload  # noqa: E402
from green_estimate.loading import Workload  # noqa: E402

D_MODEL, LAYERS, FFN, HEADS, SEQ, BATCH = 4096, 32, 16384, 32, 2048, 8


def build() -> nn.Module:
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, batch_first=True)
    return nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)


def main() -> None:
    t_import = time.perf_counter() - T0
    t1 = time.perf_counter()
    report = count_workload(Workload(name="transformer-6.4B", build=build, input_shape=(SEQ, D_MODEL)),
                            batch_size=BATCH, optimizer="adam")
    t_count = time.perf_counter() - t1
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    tot = report.totals()
    print(f"parameters        {report.parameters:,}")
    print(f"ops counted       {tot.ops:,} (+{sum(report.ignored_ops.values()):,} free views)")
    print(f"step FLOPs        {tot.flops:.4e}")
    print(f"step bytes        {tot.bytes:.4e}")
    print(f"import torch etc  {t_import:.2f} s")
    print(f"build + count     {t_count:.2f} s")
    print(f"total wall        {time.perf_counter() - T0:.2f} s   (goal ≤ 10 s)")
    print(f"peak RSS          {peak_mib:.0f} MiB (goal ≤ 1024 MiB)")
    # Analytic forward GEMM FLOPs: per token and layer, the projections do 2·(4·d² + 2·d·ffn)
    # (Q, K, V, output; two FFN matrices) and attention 2·2·seq·d (QKᵀ and AV).
    proj = 2 * (4 * D_MODEL**2 + 2 * D_MODEL * FFN) * SEQ * BATCH * LAYERS
    attn = 2 * 2 * SEQ * SEQ * D_MODEL * BATCH * LAYERS
    fwd = report.by_phase()["forward"]
    lin = report.by_class_phase()["linear"]["forward"].flops
    print(f"forward GEMM FLOPs {lin:.4e} vs analytic {proj + attn:.4e} (ratio {lin / (proj + attn):.4f})")
    print(f"forward FLOPs (all ops) {fwd.flops:.4e}")


if __name__ == "__main__":
    main()
