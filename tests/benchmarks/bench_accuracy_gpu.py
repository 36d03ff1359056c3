"""Benchmark: does a GPU profile predict unseen models' training steps on the GPU that made it?

The GPU counterpart of ``bench_accuracy.py``, for a profile made by ``calibrate --gpu`` (on a booked
GPU, ``calibration/gpu_run.sh`` runs it right after calibrating). For the same unseen models (none
built by the calibration's network generator), it counts one training step (forward, loss, backward,
Adam, batch 64) for a CUDA target, prices it with the profile, then measures the same step on the
GPU: warm-up, 3 windows of at least 0.5 s (five NVML counter updates) each ending with a device
synchronise, median. Time and energy are both measured (energy: NVML's board counter, idle
included, as calibration measures it). Prints each model's time and energy error and whether it
fell inside the 90 % interval, then the median error, the share within ±15 % and the coverage.

    python tests/benchmarks/bench_accuracy_gpu.py --profile gpu.json               # on the GPU, NVML
    python tests/benchmarks/bench_accuracy_gpu.py --profile cpu.json --device cpu  # rehearsal on a CPU

On a CPU (a rehearsal of the script, not a GPU figure) energy comes from the estimate meter.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_accuracy import BATCH, MODELS, _quality, workload  # noqa: E402

from green_estimate.calibration.incontext import make_step, settled_step_s  # noqa: E402
from green_estimate.counting.counter import count_workload  # noqa: E402
from green_estimate.meters.base import measure  # noqa: E402
from green_estimate.meters.probe import open_meter  # noqa: E402
from green_estimate.predict import predict_report  # noqa: E402
from green_estimate.profile_store import read_profile  # noqa: E402
from green_estimate.training_plan import TrainingPlan  # noqa: E402


def measure_step(name: str, device: str, meter, repeats: int = 3, window_s: float = 0.5) -> tuple[float, float]:  # noqa: ANN001
    """Median (seconds, joules) per real training step of ``name`` on ``device``."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    torch.manual_seed(0)
    w = workload(name)
    model = w.build().to(device)
    x = (w.example_input(BATCH) if w.example_input else torch.randn(BATCH, *w.input_shape)).to(device)
    step = make_step(model, (x,), "adam", device=device)
    per_step = settled_step_s(step, sync, 0.3)  # as calibration: the first steps' one-time costs left out
    iters = max(1, math.ceil(max(window_s, 5 * meter.resolution_s) / per_step))
    times, energies = [], []
    for _ in range(repeats):
        with measure(meter) as win:
            for _ in range(iters):
                step()
            sync()
        times.append(win.time_s / iters)
        energies.append(win.energy_j / iters)
    del model, x, step
    return statistics.median(times), statistics.median(energies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True, help="the profile file to test (made by calibrate --gpu)")
    ap.add_argument("--device", default="cuda:0", help="cuda:N (default cuda:0), or cpu for a rehearsal")
    ap.add_argument("--watts", type=float, default=None, help="on a CPU: the estimate meter's watts (a rehearsal)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = ap.parse_args()
    gpu = args.device.startswith("cuda")
    profile = read_profile(Path(args.profile), origin="--profile")
    meter = open_meter("nvml", gpu_index=int(args.device.split(":")[1])) if gpu else open_meter("estimate", watts=args.watts)
    where = torch.cuda.get_device_name(args.device) if gpu else "cpu"
    print(f"device: {where}, torch {torch.__version__}; meter {meter.name} ({meter.provenance}); "
          f"profile {profile.name} (made on {profile.device_name})", flush=True)
    rows = []
    try:
        for name in MODELS:
            report = count_workload(workload(name), batch_size=BATCH, optimizer="adam", target="cuda" if gpu else "cpu")
            pr = predict_report(report, plan=TrainingPlan(batch_size=BATCH, steps_given=1), profile=profile)
            t, e = measure_step(name, args.device, meter)
            (tlo, thi), (elo, ehi) = pr.time_interval(), pr.energy_interval()
            row = {"model": name, "predicted_s": pr.time_s, "interval_s": [tlo, thi], "measured_s": t,
                   "error": (pr.time_s - t) / t, "inside": tlo <= t <= thi,
                   "predicted_j": pr.energy_j, "interval_j": [elo, ehi], "measured_j": e,
                   "energy_error": (pr.energy_j - e) / e if e > 0 else None, "energy_inside": elo <= e <= ehi}
            rows.append(row)
            print(f"  {name:26s} time pred {pr.time_s * 1e3:8.3f} ms [{tlo * 1e3:8.3f}, {thi * 1e3:8.3f}] "
                  f"measured {t * 1e3:8.3f} ms err {100 * row['error']:+6.1f}% {'in ' if row['inside'] else 'OUT'} | "
                  f"energy pred {pr.energy_j:8.3f} J measured {e:8.3f} J err "
                  + (f"{100 * row['energy_error']:+6.1f}%" if row["energy_error"] is not None else "   n/a")
                  + f" {'in ' if row['energy_inside'] else 'OUT'}", flush=True)
    finally:
        meter.close()
    summary = {"time": _quality(rows)}
    energy_rows = [{"error": r["energy_error"], "inside": r["energy_inside"]} for r in rows if r["energy_error"] is not None]
    if energy_rows:
        summary["energy"] = _quality(energy_rows)
    for what, q in summary.items():
        print(f"{what}: median error {100 * q['median_ape']:.1f}%, {q['within_15pct']}/{q['models']} within ±15%, "
              f"90% interval covers {100 * q['coverage_90']:.0f}%")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "torch": torch.__version__, "profile": profile.name,
                                               "meter": meter.name, "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
