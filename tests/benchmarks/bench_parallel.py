"""Figures for docs/parallel.md: a 1.3 B-parameter GPT-2 (green_estimate/examples/gpt2_1p3b.py) on 1, 8 and
64 datasheet H100 SXM GPUs, DDP and FSDP, with gradient accumulation. Counts the model once (meta
device, no weights) and prices each configuration; prints one Markdown table.

    python tests/benchmarks/bench_parallel.py
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "green_estimate" / "examples" / "gpt2_1p3b.py")
MICRO_BATCH, GRAD_ACCUM, TOKENS = 8, 4, 2048
STEPS = 10_000

RUNS = [  # (gpus, nodes, interconnect, fsdp, overlap)
    (1, 1, None, False, None),
    (8, 1, "nvlink4", False, None),
    (8, 1, "nvlink4", False, 0.0),
    (64, 8, "nvlink4,ib-ndr", False, None),
    (64, 8, "nvlink4,ib-ndr", False, 0.0),
    (64, 8, "nvlink4,ib-hdr", False, 0.0),
    (64, 8, "nvlink4,eth-100g", False, 0.0),
    (64, 8, "nvlink4,ib-ndr", True, 0.0),
]


def main() -> None:
    from green_estimate.counting.counter import count_model
    from green_estimate.datasheet import datasheet_profile
    from green_estimate.parallel import DEFAULT_OVERLAP, ParallelPlan
    from green_estimate.predict import predict_report
    from green_estimate.profile import Profile
    from green_estimate.training_plan import TrainingPlan

    report = count_model(MODEL, batch_size=MICRO_BATCH)
    profile = Profile.from_dict(datasheet_profile("h100-sxm"), origin="datasheet")
    print(f"{report.parameters / 1e9:.3f} B parameters, {report.grad_bytes / 1e9:.2f} GB of float32 gradients; "
          f"micro-batch {MICRO_BATCH} × {TOKENS} tokens, {GRAD_ACCUM} micro-batches per step, {STEPS:,} steps; "
          "profile datasheet:h100-sxm (float32)\n")
    print("| GPUs | nodes | links | scheme | overlap | all-reduce / collective bytes per GPU per step | over the network "
          "| comm time / step | exposed | share of step time | share of energy | step time | energy (whole run) "
          "| GPU-hours |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for gpus, nodes, links, fsdp, overlap in RUNS:
        plan = TrainingPlan(MICRO_BATCH, steps_given=STEPS, grad_accum=GRAD_ACCUM, gpus=gpus)
        par = ParallelPlan(gpus, nodes, links, fsdp, DEFAULT_OVERLAP if overlap is None else overlap)
        d = predict_report(report, plan=plan, profile=profile, parallel=par).to_dict()
        p = d["parallel"]
        if p is None:
            row = ["–"] * 7
        else:
            c = p["communication"]
            row = [f"{p['bytes_per_gpu_per_step'] / 1e9:.2f} GB", f"{p['network_bytes_per_gpu_per_step'] / 1e9:.2f} GB",
                   f"{c['time_s_per_step'] * 1e3:.0f} ms", f"{c['exposed_time_s_per_step'] * 1e3:.0f} ms",
                   f"{100 * c['share_of_step_time']:.2f} %", f"{100 * c['share_of_energy']:.2f} %", ""]
        print(f"| {gpus} | {nodes} | {links or '–'} | {'FSDP' if fsdp else 'DDP' if gpus > 1 else '–'} "
              f"| {'–' if gpus == 1 else par.overlap} | " + " | ".join(row[:6])
              + f" | {d['per_step']['time_s']:.2f} s | {d['total']['energy_kwh']:.0f} kWh | {d['total']['gpu_hours']:.0f} |")


if __name__ == "__main__":
    main()
