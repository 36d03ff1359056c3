"""Timing every op *inside* real training steps: the samples calibration fits.

An op repeated alone runs with hot caches and a settled allocator; inside a step it reads
activations written long before, and small ops pay the dispatcher's and autograd's costs. So
calibration times ops where they really run: for one seeded random network (see
:mod:`~green_estimate.calibration.networks`) it

1. counts one training step on the meta device (the same counter ``predict`` uses), which gives
   every op's FLOPs, bytes and shape features;
2. runs the same step on the device under ``torch.profiler`` a few times and takes, for every
   counted op, the time of the matching profiler event (the outermost ``aten::`` event of that
   name: its time includes the kernels it calls). Ops are matched name by name in order — the
   k-th ``aten.addmm`` counted is the k-th ``aten::addmm`` run. On CUDA the event's device time
   (its kernels) is taken, on the CPU its CPU time (:mod:`~green_estimate.calibration.profiler_events`);
3. measures whole steps without the profiler under the energy meter: the step's real time and
   energy, which include the Python work between ops that no op event holds.
"""
from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from green_estimate.counting.report import OpRecord
from green_estimate.calibration.profiler_events import assign_times, op_key, profiled_times, split_steps
from green_estimate.meters.base import Meter, measure

PROFILED_STEPS = 3
MAX_STEP_FLOPS = 2e9   # default cap: a larger drawn step is run at a smaller batch, so calibration time stays bounded
MIN_BATCH = 2
# Op records as stored in a samples file: one list per op, in this order (compact: thousands per file).
# Fields after ``time_s`` came later (samples files written before them lack them: read as 0).
OP_FIELDS = ("op", "cls", "phase", "flops", "bytes", "outputs", "gemm_m", "gemm_n", "gemm_k", "depthwise", "fused",
             "time_s", "bytes_written", "conv_cin", "indices", "conv_dims", "conv_stride")
TIME = OP_FIELDS.index("time_s")


def op_record(row: list) -> OpRecord:
    """An :class:`OpRecord` from one stored op row (``bytes`` split into read and written).

    Rows of older samples files lack the trailing fields (``bytes_written``, ``conv_cin``,
    ``indices``, ``conv_dims``, ``conv_stride``): they read as 0.
    """
    op, cls, phase, flops, nbytes, outputs, m, n, k, depthwise, fused = row[:TIME]
    written, cin, indices, dims, stride = (int(v) for v in (list(row[TIME + 1:TIME + 6]) + [0] * 5)[:5])
    mnk = (int(m), int(n), int(k))
    return OpRecord(op, cls, phase, "", int(flops), int(nbytes) - written, written, True, int(outputs), min(mnk),
                    bool(depthwise), str(fused), mnk, cin, indices=indices, conv_dims=dims,
                    conv_stride=stride)


def _row(op: OpRecord, time_s: float | None) -> list:
    return [op.op, op.cls, op.phase, op.flops, op.nbytes, op.outputs, *op.gemm_mnk, int(op.depthwise), op.fused, time_s,
            op.bytes_written, op.conv_cin, op.indices, op.conv_dims, op.conv_stride]


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Mute file descriptor 2 while the profiler starts and stops: torch's native profiler writes a
    line to stderr at each (``USDT: ... profiler_start``), which no setting turns off. Python's
    own errors are raised after the descriptor is restored."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _sync(device: str) -> Callable[[], None]:
    if device.startswith("cuda"):
        import torch

        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def settled_step_s(step: Callable[[], None], sync: Callable[[], None], warmup_s: float) -> float:
    """Warm the step up (at least three steps and ``warmup_s``) and return its settled time (s).

    Each warm-up step is timed alone; the settled time is the median of the later half. The first
    steps pay one-time costs — CUDA's lazy initialisation, cuDNN and cuBLAS handles, the allocator
    growing — that can take a hundred times a step: averaged in, they would size every energy
    window far too short.
    """
    took: list[float] = []
    t0 = time.perf_counter()
    while len(took) < 3 or time.perf_counter() - t0 < warmup_s:
        t = time.perf_counter()
        step()
        sync()
        took.append(time.perf_counter() - t)
    return statistics.median(took[len(took) // 2:])


MAX_WINDOW_DOUBLINGS = 4


def measure_window(step: Callable[[], None], sync: Callable[[], None], meter: Meter, n_iter: int) -> tuple[int, Any]:
    """One measured window of ``n_iter`` steps; where a measured meter's counter did not move in it
    (the window was shorter than one counter update), the window is doubled and measured again."""
    for _ in range(MAX_WINDOW_DOUBLINGS + 1):
        with measure(meter) as w:
            for _ in range(n_iter):
                step()
            sync()
        if w.energy_j > 0:
            break
        n_iter *= 2
    return n_iter, w


def make_step(model: Any, inputs: tuple, optimizer: str, precision: str = "fp32", device: str = "cpu"
              ) -> Callable[[], None]:
    """One training step exactly as the counter counts it: forward, loss, backward, optimizer.

    ``precision`` ``bf16``/``fp16`` runs the forward pass and loss under ``torch.autocast`` of the
    device (fp16 with a ``torch.amp.GradScaler``); ``tf32`` enables TF32 GEMMs and convolutions on a GPU.
    """
    import torch

    from green_estimate.counting.counter import _loss, make_optimizer
    from green_estimate.counting.precision import low_dtype

    model.train()
    opt = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
    kind = "cuda" if device.startswith("cuda") else "cpu"
    dtype = low_dtype(precision)
    scaler = torch.amp.GradScaler(kind) if precision == "fp16" and opt is not None else None
    tf32 = precision == "tf32" and kind == "cuda"

    def step() -> None:
        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        if tf32:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            with torch.autocast(kind, dtype=dtype, enabled=dtype is not None):
                loss, _ = _loss(model(*inputs))
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                return
            loss.backward()
            if opt is not None:
                opt.step()
                opt.zero_grad(set_to_none=True)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    return step


def _smaller_batch(ops: list[OpRecord], flops: float, batch: int, max_step_flops: float) -> int:
    """The next batch to count after ``batch``'s step (``flops``) came out over ``max_step_flops``.

    The batch is halved as many times as a step whose FLOPs grow with the batch, besides the
    optimizer's, needs to come under the cap: one count instead of one per halving (each takes about
    0.1 s; a quick CPU calibration counted 157 steps for 79 networks). The count at that batch
    decides: a step still over the cap is halved on from there, so the batch is the one halving
    alone would reach wherever a step's FLOPs are not below that proportion (every suite network's,
    checked).
    """
    fixed = sum(o.flops for o in ops if o.phase == "optimizer")
    per_sample = (flops - fixed) / batch
    smaller = batch // 2
    while smaller > MIN_BATCH and fixed + per_sample * smaller > max_step_flops:
        smaller //= 2
    return max(MIN_BATCH, smaller)


def count_network(family: str, seed: int, batch: int, optimizer: str, max_step_flops: float = MAX_STEP_FLOPS,
                  precision: str = "fp32", target: str = "cpu") -> tuple[int, list[OpRecord], dict[str, int], dict]:
    """Count the network's step on meta, halving the batch until the step is affordable.

    ``precision`` and ``target`` (``cpu``/``cuda``: autocast's op lists) are the counter's; attention
    is counted as its math decomposition, which the step model's attention scale is fitted on.
    Returns the batch used, the op records, the ignored (free) ops and structural counts.
    """
    from green_estimate.calibration.networks import build_network
    from green_estimate.counting.counter import count_step

    while True:
        net = build_network(family, seed, "meta")
        report = count_step(net.model, net.inputs(batch, "meta"), optimizer=optimizer, batch_size=batch,
                            precision=precision, target=target, attention="math")
        flops = report.totals().flops
        if flops <= max_step_flops or batch <= MIN_BATCH:
            break
        batch = _smaller_batch(report.ops, flops, batch, max_step_flops)
    structure = {"param_tensors": sum(1 for p in net.model.parameters() if p.requires_grad),
                 "modules": sum(1 for _ in net.model.modules()), "ignored_ops": sum(report.ignored_ops.values())}
    return batch, report.ops, report.ignored_ops, structure


def profiled_steps(step: Callable[[], Any], sync: Callable[[], None], activities: list, n: int) -> Any:
    """The profiler of ``n`` recorded steps in one session, after one warm-up step under it
    (``schedule`` with ``warmup=1``, ``active=n``): the step right after the profiler starts pays for
    its start in its first op. In a small MLP's step on a 2-vCPU Xeon the first GEMM took a median
    347–369 µs recorded that way and 187–198 µs after a warm-up step, 171 µs timed without a profiler
    (``torch.profiler`` warns of the same skew when a schedule has no warm-up). One session for all
    ``n`` starts the profiler once and runs ``n + 1`` steps under it, where a session per step, each
    with its warm-up, ran ``2n`` (docs/performance.md). :func:`split_steps` cuts its matched events
    into the steps."""
    from torch.profiler import profile, schedule

    with _native_stderr_silenced(), profile(activities=activities,
                                            schedule=schedule(wait=0, warmup=1, active=n, repeat=1)) as prof:
        for _ in range(n + 1):
            step()
            sync()
            prof.step()
    return prof


def measure_network(params: dict, meter: Meter, device: str, *, warmup_s: float, window_s: float,
                    repeats: int, min_window_resolutions: float = 10.0, max_step_flops: float = MAX_STEP_FLOPS,
                    precision: str = "fp32") -> dict:
    """Measure one ``network`` case: in-context op times, then whole steps under ``meter``, at ``precision``."""
    from torch.profiler import ProfilerActivity

    from green_estimate.calibration.networks import build_network

    batch, ops, ignored, structure = count_network(params["family"], params["seed"], params["batch"],
                                                   params["optimizer"], max_step_flops, precision,
                                                   "cuda" if device.startswith("cuda") else "cpu")
    from green_estimate.allocator import settle

    settle(device)  # every CPU network in the one allocator state predictions price (green_estimate/allocator.py)
    net = build_network(params["family"], params["seed"], device)
    step = make_step(net.model, net.inputs(batch, device), params["optimizer"], precision, device)
    sync = _sync(device)
    per_step = settled_step_s(step, sync, warmup_s)
    keys = {op_key(o) for o in ops}
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    profiled = split_steps(profiled_times(profiled_steps(step, sync, activities, PROFILED_STEPS), keys, device),
                           PROFILED_STEPS)
    times = assign_times(ops, profiled)
    window = max(window_s, min_window_resolutions * meter.resolution_s)
    n_iter = max(1, math.ceil(window / max(per_step, 1e-7)))
    step_times, step_energies = [], []
    for _ in range(repeats):
        n_iter, w = measure_window(step, sync, meter, n_iter)
        step_times.append(w.time_s / n_iter)
        step_energies.append(w.energy_j / n_iter)
    med_t = statistics.median(step_times)
    return {
        "batch": batch, "ops": [_row(o, t) for o, t in zip(ops, times)], "op_fields": list(OP_FIELDS),
        "unmatched_ops": sum(t is None for t in times), "structure": structure,
        "iterations": n_iter, "repeats": repeats, "time_s": med_t, "energy_j": statistics.median(step_energies),
        "time_s_repeats": step_times, "energy_j_repeats": step_energies,
        "time_spread_rel": (max(step_times) - min(step_times)) / med_t if med_t > 0 else 0.0,
    }
