"""The device probe: about 15 s of measurements that carry a CPU profile to another CPU.

A profile is a property of the machine that made it. The probe measures what decides how the same
step runs elsewhere — a square GEMM's rate, a thin GEMM's rate, a 3×3 convolution's rate (forward
and backward: convolutions run in another library than GEMMs, whose speed relative to the GEMM's
differs from CPU to CPU), memory bandwidth, the cost of one aten call, plain Python speed, what a
new 64 MiB tensor's pages cost to fault in and to unmap — and three fixed reference training steps.
Calibration stores the probe of the calibrating machine in the profile; on another CPU ``predict``
probes this machine (once: the result is cached per CPU name, identity numbers and vector
instructions, thread count and torch version, until ``green-estimate probe`` measures it again),
rescales each coefficient by the ratio of the rate it stands for, and widens the interval by the reference steps'
median error after that: the *measured* transfer error (``green_estimate/transfer.py``). Every figure is
measured, none is a datasheet value.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Iterable

PROBE_SCHEMA = "green-estimate/probe@1"
# How the probe was timed: since "settled-allocator", after allocator.settle(), as calibration times its
# networks; since "settled-allocator-3-rounds", every rate and reference step the median of 3 rounds
# over all of them (one 0.5 s window per rate read a copy's bandwidth at 45 and 75 GB/s on one VM). A
# cached probe timed otherwise is measured again.
PROBE_METHOD = "settled-allocator-3-rounds"
PROBE_ROUNDS = 3
# What a probe measures: a cached probe without one of them (made by an older probe) is measured again.
RATE_KEYS = ("gemm_flops_per_s", "thin_gemm_flops_per_s", "conv_flops_per_s", "bandwidth_bytes_per_s", "dispatch_s",
             "python_loop_s", "fresh_page_s_per_byte", "unmap_s_per_byte")
# Fresh pages: a new tensor of 32 MiB or more (features.FRESH_BYTES) takes pages the kernel maps and
# zeroes as the op first writes them, and gives them back when it is freed, between ops. Timed apart
# on a 64 MiB tensor: filling a new one against filling one already touched is the fault cost per
# byte, freeing it the unmap cost. On the 2-vCPU EPYC VM (4 KiB pages, transparent huge pages on
# madvise) 0.15-0.23 and 0.052-0.071 ns/B for tensors of 33-256 MiB, one call or process to the
# next (a machine that backs them with huge pages should pay less; not measured). Calibration takes
# both as measured costs (fit.MEASURED_FEATURES), not fitted ones: few calibration networks have such
# tensors.
FRESH_PROBE_BYTES = 64 << 20
FRESH_PROBE_REPS = 5
REFERENCE_STEPS = (("cnn", 1, 32, "adam"), ("mlp", 3, 64, "adam"), ("transformer", 2, 16, "adam"))
# Two more copies, timed beside the 32 MiB one and recorded, which nothing carries a profile by yet: a
# 2 MiB copy (4 MiB of traffic: in a last-level cache), ``cache_bandwidth_bytes_per_s``, and a copy of
# four times the last-level cache the process's CPUs reach (128-512 MiB: from memory),
# ``dram_bandwidth_bytes_per_s``. The 32 MiB copy's 64 MiB of traffic sits at a 32 MiB cache's edge: on
# the project's 2-vCPU EPYC VM it read 37-96 GB/s from one probe or process to the next, the 2 MiB one
# 143-167 and a 128 or 512 MiB one 28-52 (docs/performance.md, runs CB to CD, CK and CL); on a CPU with
# a larger cache it is an in-cache rate. Which rate byte coefficients should follow waits for these
# readings on another CPU.
CACHE_COPY_ELEMENTS = 512 * 1024
# The memory copy's size per buffer: four times the last-level cache, within these bounds (bytes)
DRAM_COPY_MIN_BYTES, DRAM_COPY_MAX_BYTES = 128 << 20, 512 << 20
# Where Linux describes each CPU's caches
CPU_DIR = Path("/sys/devices/system/cpu")


def _highest_cache(cache_dir: Path) -> tuple[int, int, str] | None:
    """``(level, bytes, CPUs sharing it)`` of the highest-level cache in one CPU's ``cache/`` folder
    (``index*/level``, ``size`` such as ``32768K``, ``shared_cpu_list``); ``None`` where none is readable."""
    best = None
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = int((index / "level").read_text().strip())
            m = re.fullmatch(r"(\d+)([KMG]?)", (index / "size").read_text().strip())
            shared = (index / "shared_cpu_list").read_text().strip() if (index / "shared_cpu_list").exists() else index.as_posix()
        except (OSError, ValueError):
            continue
        if m and (best is None or level > best[0]):
            best = (level, int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)], shared)
    return best


def last_level_cache_bytes(cpu_dir: Path | None = None, cpus: Iterable[int] | None = None) -> int | None:
    """The last-level cache the CPUs this process may run on (``cpus``, default its affinity) reach, in
    bytes: the sizes of the distinct highest-level caches they use, summed (a server's threads span
    several L3 slices, each its own cache); ``None`` where Linux does not describe them."""
    root = cpu_dir or CPU_DIR
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    caches = [c for c in (_highest_cache(root / f"cpu{n}" / "cache") for n in sorted(cpus)) if c]
    if not caches:
        return None
    top = max(level for level, _, _ in caches)
    return sum({shared: size for level, size, shared in caches if level == top}.values())


def dram_copy_bytes(llc_bytes: int | None) -> int:
    """The memory copy's size per buffer for a last-level cache of ``llc_bytes``: four times it, at least
    :data:`DRAM_COPY_MIN_BYTES` and at most :data:`DRAM_COPY_MAX_BYTES` (256 MiB where the cache is unknown)."""
    if llc_bytes is None:
        return 256 << 20
    return min(max(4 * llc_bytes, DRAM_COPY_MIN_BYTES), DRAM_COPY_MAX_BYTES)


def _rate(fn: Callable[[], None], budget_s: float) -> float:
    """Seconds per call of ``fn``: the median of 3 windows after a warm-up."""
    fn()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < budget_s / 4 or n < 2:
        fn()
        n += 1
    per = (time.perf_counter() - t0) / n
    reps = max(1, int(budget_s / 4 / max(per, 1e-9)))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) / reps)
    return statistics.median(times)


def fresh_page_costs(nbytes: int = FRESH_PROBE_BYTES, reps: int = FRESH_PROBE_REPS) -> tuple[float, float]:
    """Seconds per byte of faulting in a new tensor's pages and of unmapping them when it is freed:
    medians of ``reps`` timings of a new ``nbytes`` tensor filled, freed, and a touched one filled."""
    import torch

    n = nbytes // 4
    touched = torch.empty(n).fill_(0.0)
    new_s, free_s, fill_s = [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fresh = torch.empty(n).fill_(1.0)
        t1 = time.perf_counter()
        del fresh
        t2 = time.perf_counter()
        touched.fill_(1.0)
        t3 = time.perf_counter()
        new_s.append(t1 - t0)
        free_s.append(t2 - t1)
        fill_s.append(t3 - t2)
    fault = max(0.0, statistics.median(new_s) - statistics.median(fill_s)) / (4 * n)
    return fault, statistics.median(free_s) / (4 * n)


def _python_loop() -> None:
    total = 0
    for i in range(20000):
        total += i & 7


def reference_step(family: str, seed: int, batch: int, optimizer: str) -> Callable[[], None]:
    """One training step of a fixed calibration network on the CPU, ready to time."""
    from green_estimate.allocator import settle
    from green_estimate.calibration.incontext import make_step
    from green_estimate.calibration.networks import build_network

    settle()  # the allocator state calibration measured in
    net = build_network(family, seed, "cpu")
    step = make_step(net.model, net.inputs(batch, "cpu"), optimizer)
    step()
    return step


def reference_step_time_s(family: str, seed: int, batch: int, optimizer: str, budget_s: float = 0.5) -> float:
    """Seconds per training step of one fixed calibration network on the CPU (the median of
    :data:`PROBE_ROUNDS` timings)."""
    step = reference_step(family, seed, batch, optimizer)
    return statistics.median(_rate(step, budget_s) for _ in range(PROBE_ROUNDS))


def run_probe(budget_s: float = 0.35, step_budget_s: float = 0.5) -> dict[str, Any]:
    """Probe this CPU (about 15 s): rates, costs and reference step times, all measured, each the
    median of :data:`PROBE_ROUNDS` rounds over all of them (a shared machine's speed moves within
    seconds: interleaved, a slow moment touches one round of each, not one figure)."""
    import torch

    from green_estimate.allocator import settle
    from green_estimate.fingerprint import cpu_fingerprint

    settle()  # the convolution's step allocates: time it in the allocator state calibration runs in
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    thin_a, thin_b = torch.randn(64, 256), torch.randn(256, 256)
    big, dst = torch.randn(8 * 1024 * 1024), torch.empty(8 * 1024 * 1024)
    small, small_dst = torch.randn(CACHE_COPY_ELEMENTS), torch.empty(CACHE_COPY_ELEMENTS)
    llc = last_level_cache_bytes()
    huge_elements = dram_copy_bytes(llc) // 4
    huge, huge_dst = torch.empty(huge_elements).fill_(1.0), torch.empty(huge_elements).fill_(0.0)  # pages touched
    x, y = torch.randn(1), torch.randn(1)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1, bias=False)
    image = torch.randn(8, 32, 32, 32)

    def conv_step() -> None:
        conv(image).sum().backward()

    kernels: dict[str, Callable[[], None]] = {
        "gemm": lambda: torch.mm(a, b), "conv": conv_step, "thin": lambda: torch.mm(thin_a, thin_b),
        "copy": lambda: dst.copy_(big), "cache_copy": lambda: small_dst.copy_(small),
        "dram_copy": lambda: huge_dst.copy_(huge),
        "add": lambda: torch.add(x, y), "python": _python_loop}
    steps = [reference_step(*ref) for ref in REFERENCE_STEPS]
    rounds: dict[str, list[float]] = {k: [] for k in [*kernels, *(str(i) for i in range(len(steps)))]}
    pages: list[tuple[float, float]] = []
    for _ in range(PROBE_ROUNDS):
        for name, fn in kernels.items():
            rounds[name].append(_rate(fn, budget_s))
        pages.append(fresh_page_costs())
        for i, step in enumerate(steps):
            rounds[str(i)].append(_rate(step, step_budget_s))
    med = {k: statistics.median(v) for k, v in rounds.items()}
    gemm_s, conv_s, thin_s, copy_s, add_s, py_s = (med[k] for k in ("gemm", "conv", "thin", "copy", "add", "python"))
    refs = [{"family": f, "seed": s, "batch": bt, "optimizer": o, "time_s": med[str(i)]}
            for i, (f, s, bt, o) in enumerate(REFERENCE_STEPS)]
    return {
        "schema": PROBE_SCHEMA, "method": PROBE_METHOD, "fingerprint": cpu_fingerprint(), "torch_version": torch.__version__,
        "measured_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "gemm_flops_per_s": 2 * 512**3 / gemm_s, "thin_gemm_flops_per_s": 2 * 64 * 256 * 256 / thin_s,
        # forward, input gradient and weight gradient: three times the forward's 2·N·Cout·H·W·Cin·9
        "conv_flops_per_s": 3 * 2 * 8 * 32 * 32 * 32 * 32 * 9 / conv_s,
        "bandwidth_bytes_per_s": 2 * big.numel() * 4 / copy_s,
        "cache_bandwidth_bytes_per_s": 2 * small.numel() * 4 / med["cache_copy"],
        "dram_bandwidth_bytes_per_s": 2 * huge.numel() * 4 / med["dram_copy"], "dram_copy_bytes": huge.numel() * 4,
        "last_level_cache_bytes": llc, "dispatch_s": add_s, "python_loop_s": py_s,
        "fresh_page_s_per_byte": statistics.median(f for f, _ in pages),
        "unmap_s_per_byte": statistics.median(u for _, u in pages),
        "reference_steps": refs,
    }


def _cache_path(fp: dict, torch_version: str) -> Path:
    from green_estimate.profile_store import home_dir

    ident = "-".join(str(fp[k]) for k in ("cpu_id", "isa") if fp.get(k))
    slug = re.sub(r"[^a-z0-9]+", "-", f"{fp.get('cpu_model')}-{ident}-{fp.get('threads')}t-{torch_version}".lower())
    return home_dir() / "probes" / f"{slug.strip('-')[:120]}.json"


def cached_probe() -> dict[str, Any] | None:
    """This machine's cached probe (with ``cached`` and ``cache_path``), or ``None`` when none is cached for
    this CPU (name, identity numbers, vector instructions), thread count and torch, by this probe's method
    and with every rate it measures (one timed another way, or made by an older probe, does not count)."""
    import torch

    from green_estimate.fingerprint import cpu_fingerprint, same_cpu

    here = cpu_fingerprint()
    path = _cache_path(here, torch.__version__)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("schema") == PROBE_SCHEMA and data.get("method") == PROBE_METHOD \
            and same_cpu(data.get("fingerprint", {}), here) and all(k in data for k in RATE_KEYS):
        return {**data, "cached": True, "cache_path": str(path)}
    return None


def probe_here(refresh: bool = False) -> dict[str, Any]:
    """This machine's probe: the cached one (see :func:`cached_probe`) unless ``refresh`` or there is
    none, else measured now (about 15 s) and cached in its place."""
    import torch

    from green_estimate.fingerprint import cpu_fingerprint
    from green_estimate.profile_store import write_profile

    if not refresh:
        cached = cached_probe()
        if cached is not None:
            return cached
    path = _cache_path(cpu_fingerprint(), torch.__version__)
    data = run_probe()
    try:
        write_profile(data, path)  # an atomic JSON write
    except OSError:
        pass  # a read-only home only costs the probe again next time
    return {**data, "cached": False, "cache_path": str(path)}


def ratios(made: dict, here: dict) -> dict[str, float]:
    """Time multipliers from the profile's machine to this one, per kind of coefficient (``conv_flops``
    only when both probes timed a convolution: a profile probed before that prices conv FLOPs by GEMMs;
    ``fresh`` and ``unmap``, the fresh-page costs, only when both probes measured them)."""
    conv = {"conv_flops": made["conv_flops_per_s"] / here["conv_flops_per_s"]} \
        if made.get("conv_flops_per_s") and here.get("conv_flops_per_s") else {}
    measured = all((p.get("fresh_page_s_per_byte") or 0) > 0 and (p.get("unmap_s_per_byte") or 0) > 0
                   for p in (made, here))
    pages = {"fresh": here["fresh_page_s_per_byte"] / made["fresh_page_s_per_byte"],
             "unmap": here["unmap_s_per_byte"] / made["unmap_s_per_byte"]} if measured else {}
    return {
        **conv, **pages,
        "flops": made["gemm_flops_per_s"] / here["gemm_flops_per_s"],
        "thin_flops": made["thin_gemm_flops_per_s"] / here["thin_gemm_flops_per_s"],
        "bytes": made["bandwidth_bytes_per_s"] / here["bandwidth_bytes_per_s"],
        "dispatch": here["dispatch_s"] / made["dispatch_s"],
        "python": here["python_loop_s"] / made["python_loop_s"],
    }


def feature_ratio(feature: str, r: dict[str, float], cls: str = "") -> float:
    """The multiplier of one coefficient of layer class ``cls``: FLOP rates for FLOP features (the
    convolution's for the conv class's, where probed), bandwidth for bytes, dispatch otherwise."""
    if cls == "conv" and "flops" in feature and "conv_flops" in r:
        return r["conv_flops"]
    if feature == "bytes_fresh" and "fresh" in r:
        return r["fresh"]
    if feature in ("gemm_flops_thin", "gemm_flops_narrow", "depthwise_flops", "flops_small", "sqrt_flops"):
        return r["thin_flops"]
    if "flops" in feature:
        return r["flops"]
    if "bytes" in feature:
        return r["bytes"]
    return r["dispatch"]


def step_feature_ratio(feature: str, r: dict[str, float]) -> float:
    """The step model's coefficients: the op-time scale stays; the work between ops is Python's."""
    if feature.endswith("_time_s"):
        return 1.0
    if feature == "fresh_bytes" and "unmap" in r:
        return r["unmap"]
    return math.sqrt(r["python"] * r["dispatch"])
