"""Benchmark: does a GPU profile predict models' training steps on the GPU that made it?

The GPU counterpart of ``bench_accuracy.py``, for a profile made by ``calibrate --gpu`` (on a booked
GPU, ``calibration/gpu_run.sh`` runs it right after calibrating). Two sets of models, none built by
the calibration's network generator:

* ``unseen`` (default): ``bench_accuracy.py``'s 17 models at batch 64 (15 before run AR; with
  ``--measured``, those the earlier run measured) — small steps, which a fast GPU runs in a few
  milliseconds, bound by the host issuing kernels;
* ``large``: five steps of tens of milliseconds that keep the GPU itself busy (a ResNet-18 on
  224×224 images at batch 32 and 128, a 4-layer 8192-wide MLP at batch 2048, a 12-layer d-768
  transformer encoder on 197 tokens at batch 32, a VGG-like CNN on 64×64 images at batch 512).

For each it counts one training step (forward, loss, backward, Adam) for a CUDA target, prices it
with the profile, then measures the same step on the GPU: the settled step time sizes 3 windows of
at least 0.5 s (five NVML counter updates; 1 s for ``large``), each ending with a device
synchronise, median; as in calibration, a window whose energy counter did not move is doubled.
Time and energy are both measured (energy: NVML's board counter, idle included, as calibration
measures it). Prints each model's time and energy error and whether it
fell inside the 90 % interval, then the median error, the share within ±15 % and the coverage.

    python tests/benchmarks/bench_accuracy_gpu.py --profile gpu.json --json out.json    # on the GPU
    python tests/benchmarks/bench_accuracy_gpu.py --profile gpu.json --models large
    python tests/benchmarks/bench_accuracy_gpu.py --profile other.json --measured out.json  # anywhere:
        # price the steps measured in an earlier run (its --json) with another profile, no GPU needed
    python tests/benchmarks/bench_accuracy_gpu.py --profile cpu.json --device cpu --watts 100  # rehearsal

On a CPU (a rehearsal of the script, not a GPU figure) energy comes from the estimate meter.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_accuracy import BATCH, MODELS, _quality, workload  # noqa: E402

from green_estimate.calibration.incontext import make_step, measure_window, settled_step_s  # noqa: E402
from green_estimate.counting.counter import count_workload  # noqa: E402
from green_estimate.examples.resnet18 import build_model as resnet18  # noqa: E402
from green_estimate.loading import Workload  # noqa: E402
from green_estimate.meters.probe import open_meter  # noqa: E402
from green_estimate.predict import predict_report  # noqa: E402
from green_estimate.profile_store import load_profile  # noqa: E402
from green_estimate.training_plan import TrainingPlan  # noqa: E402


def mlp_8192() -> nn.Module:
    return nn.Sequential(nn.Linear(8192, 8192), nn.ReLU(), nn.Linear(8192, 8192), nn.ReLU(),
                         nn.Linear(8192, 8192), nn.ReLU(), nn.Linear(8192, 10))


class Encoder(nn.Module):
    def __init__(self, d: int = 768, layers: int = 12, heads: int = 12) -> None:
        super().__init__()
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, heads, 4 * d, batch_first=True), layers)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x).mean(1))


def vgg_like() -> nn.Module:
    def block(a: int, b: int) -> list:
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.Conv2d(b, b, 3, padding=1),
                nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 128), *block(128, 256), *block(256, 512), nn.Flatten(), nn.Linear(512 * 8 * 8, 10))


# name → (build, per-sample input shape, batch)
LARGE: dict[str, tuple[Callable[[], nn.Module], tuple, int]] = {
    "resnet18-b128-224": (resnet18, (3, 224, 224), 128),
    "resnet18-b32-224": (resnet18, (3, 224, 224), 32),
    "mlp-8192x4-b2048": (mlp_8192, (8192,), 2048),
    "encoder-768x12-b32-seq197": (Encoder, (197, 768), 32),
    "vgg-like-b512-64px": (vgg_like, (3, 64, 64), 512),
}


def model_set(which: str) -> dict[str, tuple[Workload, int]]:
    """The models of a set: name → (workload, batch)."""
    if which == "unseen":
        return {name: (workload(name), BATCH) for name in MODELS}
    if which == "large":
        return {name: (Workload(name=name, build=b, input_shape=shape), batch) for name, (b, shape, batch) in LARGE.items()}
    raise SystemExit(f"--models {which!r}: use unseen or large")


def measure_step(w: Workload, batch: int, device: str, meter, repeats: int = 3, window_s: float = 0.5  # noqa: ANN001
                 ) -> tuple[float, float]:
    """Median (seconds, joules) per real training step of ``w`` at ``batch`` on ``device``."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    torch.manual_seed(0)
    model = w.build().to(device)
    x = (w.example_input(batch) if w.example_input else torch.randn(batch, *w.input_shape)).to(device)
    step = make_step(model, (x,), "adam", device=device)
    per_step = settled_step_s(step, sync, 0.3)  # as calibration: the first steps' one-time costs left out
    iters = max(1, math.ceil(max(window_s, 5 * meter.resolution_s) / per_step))
    times, energies = [], []
    for _ in range(repeats):  # as calibration: a window the energy counter did not see is doubled
        n, win = measure_window(step, sync, meter, iters)
        times.append(win.time_s / n)
        energies.append(win.energy_j / n)
    del model, x, step
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return statistics.median(times), statistics.median(energies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True, help="the profile to test: a file made by calibrate --gpu, or a name")
    ap.add_argument("--models", default="unseen", help="unseen (default) or large")
    ap.add_argument("--device", default="cuda:0", help="cuda:N (default cuda:0), or cpu for a rehearsal")
    ap.add_argument("--measured", default=None,
                    help="take the measured steps from this earlier run's --json instead of measuring (no GPU needed)")
    ap.add_argument("--watts", type=float, default=None, help="on a CPU: the estimate meter's watts (a rehearsal)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = ap.parse_args()
    gpu = args.device.startswith("cuda")
    profile = load_profile(args.profile)
    models = model_set(args.models)
    earlier = None
    if args.measured:
        earlier = json.loads(Path(args.measured).read_text())
        earlier_rows = {r["model"]: r for r in earlier["rows"]}
        models = {n: m for n, m in models.items() if n in earlier_rows}
        meter, where = None, f"{earlier['device']} (measured earlier, torch {earlier['torch']}; priced here)"
        target = "cuda" if earlier.get("meter") == "nvml" else "cpu"
    else:
        meter = open_meter("nvml", gpu_index=int(args.device.split(":")[1])) if gpu else open_meter("estimate",
                                                                                                    watts=args.watts)
        where = torch.cuda.get_device_name(args.device) if gpu else "cpu"
        target = "cuda" if gpu else "cpu"
    print(f"device: {where}; torch {torch.__version__}" + (f"; meter {meter.name} ({meter.provenance})" if meter else "")
          + f"; profile {profile.name} (made on {profile.device_name})", flush=True)
    rows = []
    window_s = 1.0 if args.models == "large" else 0.5
    try:
        for name, (w, batch) in models.items():
            report = count_workload(w, batch_size=batch, optimizer="adam", target=target)
            pr = predict_report(report, plan=TrainingPlan(batch_size=batch, steps_given=1), profile=profile)
            if earlier is not None:
                t, e = earlier_rows[name]["measured_s"], earlier_rows[name]["measured_j"]
            else:
                t, e = measure_step(w, batch, args.device, meter, window_s=window_s)
            (tlo, thi), (elo, ehi) = pr.time_interval(), pr.energy_interval()
            row = {"model": name, "batch": batch, "predicted_s": pr.time_s, "interval_s": [tlo, thi], "measured_s": t,
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
        if meter is not None:
            meter.close()
    summary = {"time": _quality(rows)}
    energy_rows = [{"error": r["energy_error"], "inside": r["energy_inside"]} for r in rows if r["energy_error"] is not None]
    if energy_rows:
        summary["energy"] = _quality(energy_rows)
    for what, q in summary.items():
        print(f"{what}: median error {100 * q['median_ape']:.1f}%, {q['within_15pct']}/{q['models']} within ±15%, "
              f"90% interval covers {100 * q['coverage_90']:.0f}%")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": earlier["device"] if earlier else where, "torch": earlier["torch"] if earlier else torch.__version__,
            "profile": profile.name, "meter": earlier["meter"] if earlier else meter.name, "models": args.models,
            "priced_from": args.measured, "rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
