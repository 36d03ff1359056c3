"""Benchmark: predicted vs measured time of real training steps on this CPU.

For CNNs and MLPs that the calibration suite never ran, one training step (forward, cross-entropy,
backward, Adam, batch 64) is priced with a profile and then measured for real in the same process.
Prints each model's error, the median APE, the share within ±15%, the interval coverage, the
machine's repeat noise, and the naive estimate (total FLOPs ÷ one FLOP rate fitted on these very
models — in-sample, so it flatters the naive method).

    python tests/benchmarks/bench_predict_accuracy.py --profile /path/to/profile.json
    python tests/benchmarks/bench_predict_accuracy.py            # the default profile
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from green_estimate.counting.counter import count_workload, make_optimizer  # noqa: E402
from green_estimate.examples.simple_cnn import build_model as simple_cnn  # noqa: E402
from green_estimate.loading import Workload  # noqa: E402
from green_estimate.predict import TrainingPlan, predict_report, resolve_profile  # noqa: E402

BATCH = 64


def lenet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def vgg_small() -> nn.Module:
    def block(a, b):
        return [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
    return nn.Sequential(*block(3, 16), *block(16, 16), nn.MaxPool2d(2), *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, 10))


class Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(self.a(x) + x)


def resnet_small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 24, 3, padding=1, bias=False), nn.BatchNorm2d(24), nn.ReLU(), Res(24), nn.MaxPool2d(2),
                         Res(24), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


def mobilenet_small() -> nn.Module:
    def dw(a, b, s):
        return [nn.Conv2d(a, a, 3, s, 1, groups=a, bias=False), nn.BatchNorm2d(a), nn.ReLU6(),
                nn.Conv2d(a, b, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU6()]
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(), *dw(16, 32, 1),
                         *dw(32, 64, 2), *dw(64, 64, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def mlp(widths: list[int], relu: bool) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in zip(widths, widths[1:]):
        layers.append(nn.Linear(a, b))
        if relu and b != widths[-1]:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


MODELS = {
    "simplecnn-4conv-3lin": (lambda: simple_cnn(4, 3), (1, 28, 28)),
    "simplecnn-1conv-3lin": (lambda: simple_cnn(1, 3), (1, 28, 28)),
    "simplecnn-4conv-7lin-norelu": (lambda: simple_cnn(4, 7, relu=False), (1, 28, 28)),
    "simplecnn-2conv-cifar": (lambda: simple_cnn(2, 3, in_channels=3, image_size=32), (3, 32, 32)),
    "lenet5": (lenet, (1, 28, 28)),
    "vgg-small": (vgg_small, (3, 32, 32)),
    "resnet-small": (resnet_small, (3, 32, 32)),
    "mobilenet-small": (mobilenet_small, (3, 32, 32)),
    "mlp-relu-784-512-256-10": (lambda: mlp([784, 512, 256, 10], True), (1, 28, 28)),
    "mlp-plain-784-392-196-98-10": (lambda: mlp([784, 392, 196, 98, 10], False), (1, 28, 28)),
    "mlp-wide-3072-1024-1024-10": (lambda: mlp([3072, 1024, 1024, 10], True), (3, 32, 32)),
    "mlp-linear-784-600-400-200-10": (lambda: mlp([784, 600, 400, 200, 10], False), (1, 28, 28)),
}


def measure_step_s(build, shape, repeats: int = 5, window_s: float = 0.4) -> tuple[float, list[float]]:
    torch.manual_seed(0)
    model = build()
    model.train()
    opt = make_optimizer("adam", list(model.parameters()))
    x = torch.randn(BATCH, *shape)
    y = torch.randint(0, 10, (BATCH,))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < 0.2:
        step()
        n += 1
    per = (time.perf_counter() - t0) / n
    iters = max(1, int(window_s / per))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            step()
        times.append((time.perf_counter() - t) / iters)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="profile path or name (default: the default profile)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--passes", type=int, default=2,
                    help="measure every model this many times, in separate passes over the list (default 2): "
                         "the spread between passes is this machine's drift, the floor under any prediction error")
    args = ap.parse_args()
    profile = resolve_profile(args.profile)
    print(f"profile: {profile.name} ({profile.origin}), torch threads: {torch.get_num_threads()}")
    preds = {}
    for name, (build, shape) in MODELS.items():
        t0 = time.perf_counter()
        report = count_workload(Workload(name=name, build=build, input_shape=shape), batch_size=BATCH, optimizer="adam")
        pred = predict_report(report, plan=TrainingPlan(batch_size=BATCH, steps_given=1), profile=profile)
        preds[name] = (report, pred, time.perf_counter() - t0)
    passes: dict[str, list[float]] = {name: [] for name in MODELS}
    spreads: dict[str, list[float]] = {name: [] for name in MODELS}
    for _ in range(args.passes):
        for name, (build, shape) in MODELS.items():
            measured, reps = measure_step_s(build, shape)
            passes[name].append(measured)
            spreads[name].append((max(reps) - min(reps)) / measured)
    rows = []
    for name in MODELS:
        report, pred, predict_s = preds[name]
        lo, hi = pred.time_interval()
        measured = statistics.median(passes[name])
        drift = (max(passes[name]) - min(passes[name])) / measured
        rows.append({"model": name, "flops": report.totals().flops, "predicted_s": pred.time_s, "interval": [lo, hi],
                     "measured_s": measured, "passes_s": passes[name], "ape": abs(pred.time_s - measured) / measured,
                     "inside": lo <= measured <= hi, "repeat_spread": statistics.median(spreads[name]),
                     "pass_drift": drift, "predict_wall_s": predict_s})
        r = rows[-1]
        print(f"{name:32s} pred {r['predicted_s'] * 1e3:8.2f} ms [{lo * 1e3:7.2f}, {hi * 1e3:7.2f}]  measured "
              f"{measured * 1e3:8.2f} ms  err {100 * (r['predicted_s'] - measured) / measured:+6.1f}%  "
              f"{'in' if r['inside'] else 'OUT'}  repeat spread {100 * r['repeat_spread']:4.1f}%  "
              f"drift between passes {100 * drift:4.1f}%")
    apes = [r["ape"] for r in rows]
    # naive: one FLOP rate fitted to minimise relative error on these models (in-sample)
    ratios = sorted(r["flops"] / r["measured_s"] for r in rows)
    rate = statistics.median(ratios)
    naive = [abs(r["flops"] / rate - r["measured_s"]) / r["measured_s"] for r in rows]
    summary = {
        "profile": profile.name, "models": len(rows),
        "median_ape": statistics.median(apes), "within_15pct": sum(a <= 0.15 for a in apes) / len(apes),
        "interval_coverage": sum(r["inside"] for r in rows) / len(rows),
        "median_repeat_spread": statistics.median(r["repeat_spread"] for r in rows),
        "median_pass_drift": statistics.median(r["pass_drift"] for r in rows),
        "naive_median_ape": statistics.median(naive), "naive_rate_flops_per_s": rate,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
