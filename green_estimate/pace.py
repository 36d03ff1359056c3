"""Machine pace: how long a fixed reference step takes on this CPU now, against when the profile was made.

A shared machine does not run at one speed. On a 2-vCPU cloud VM (AMD EPYC, KVM) the same small
training step ran 1.4–1.5× slower for 30–80 s at a time, while a 512² GEMM kept its rate: other
tenants' cache and memory traffic slow small, memory-bound steps and leave compute-bound ones alone.
A prediction priced at the calibration's pace is then off by that factor for reasons that are the
machine's, not the model's. ``validate`` times the pace before every trial so its report can tell the
two apart (docs/validation.md).

The reference is the device probe's MLP step (:data:`~green_estimate.device_probe.REFERENCE_STEPS`,
about 1 ms), timed for :data:`PACE_BUDGET_S`. Calibration on a CPU times it before every network
and stores the median and range in the profile (:func:`pace_summary`): the pace the profile's
measurements were made at. That median is the baseline of a profile made on this CPU; a profile
without one (made before, or on another CPU) falls back to the same step's time in a device probe —
the profile's own, else this CPU's cached one. A pace of 1.3 means the machine ran the reference
step 1.3× slower than then.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

from green_estimate.device_probe import REFERENCE_STEPS

PACE_REFERENCE = REFERENCE_STEPS[1]  # ("mlp", 3, 64, "adam"): about 1 ms a step on a 2-vCPU EPYC
PACE_BUDGET_S = 0.1  # per measurement: ~100 reference steps, in 3 windows
PACE_WINDOWS = 3
OFF_PACE = 1.25  # a trial whose pace is beyond ×1.25 either way ran on a machine faster or slower than calibrated


def baseline_s(probe: dict | None) -> float | None:
    """The reference step's time in ``probe`` (a device probe dict), or None when it lacks one."""
    family, seed, batch, optimizer = PACE_REFERENCE
    for ref in (probe or {}).get("reference_steps", []):
        if (ref.get("family"), ref.get("seed"), ref.get("batch"), ref.get("optimizer")) == (family, seed, batch, optimizer):
            t = float(ref.get("time_s") or 0.0)
            return t if t > 0 else None
    return None


def pace_summary(samples: list[dict]) -> dict | None:
    """The pace a calibration measured at, from its samples' ``pace_s`` (the reference step's seconds
    timed before each network): median, range and count; None when no sample has one."""
    paces = [float(s["pace_s"]) for s in samples if s.get("pace_s")]
    if not paces:
        return None
    return {"reference": list(PACE_REFERENCE), "median_s": statistics.median(paces), "low_s": min(paces),
            "high_s": max(paces), "networks": len(paces)}


def off_pace(pace: float | None, limit: float = OFF_PACE) -> bool:
    """Whether a measured ``pace`` is beyond ``limit`` either way (None: not measured, not off)."""
    return pace is not None and abs(math.log(pace)) > math.log(limit)


class ReferenceTimer:
    """Times the reference step: seconds per step now (call it: ``timer()``).

    Args:
        step: the step to time; None builds the reference step on first use (so the object pickles
            cheaply to validation workers).
        budget_s: seconds of stepping per measurement, split into :data:`PACE_WINDOWS` windows whose
            median is taken.
        clock: the time source.
    """

    def __init__(self, step: Callable[[], None] | None = None, *, budget_s: float = PACE_BUDGET_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.budget_s = budget_s
        self.clock = clock
        self._step = step

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_step"] = None  # a built torch step stays in its process; a worker builds its own
        return state

    def __call__(self) -> float:
        """Seconds per reference step now: the median of :data:`PACE_WINDOWS` windows after one warm step."""
        if self._step is None:
            from green_estimate.device_probe import reference_step

            self._step = reference_step(*PACE_REFERENCE)
        step = self._step
        step()
        window = self.budget_s / PACE_WINDOWS
        times = []
        for _ in range(PACE_WINDOWS):
            t0, n = self.clock(), 0
            while n < 1 or self.clock() - t0 < window:
                step()
                n += 1
            times.append((self.clock() - t0) / n)
        return statistics.median(times)


class PaceProbe:
    """Times the reference step and returns its time over the baseline (call it: ``probe()``).

    Args:
        baseline_s: the reference step's seconds when the profile was made (the median of its
            calibration's timings, or a device probe's).
        step, budget_s, clock: as :class:`ReferenceTimer`'s.
    """

    def __init__(self, baseline_s: float, step: Callable[[], None] | None = None, *, budget_s: float = PACE_BUDGET_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if not baseline_s > 0:
            raise ValueError(f"baseline_s must be positive, got {baseline_s}")
        self.baseline_s = float(baseline_s)
        self.timer = ReferenceTimer(step, budget_s=budget_s, clock=clock)

    def __call__(self) -> float:
        """The pace now: seconds per reference step over the baseline (above 1: slower than then)."""
        return self.timer() / self.baseline_s


def pace_probe_for(profile: Any, device: str) -> PaceProbe | None:
    """The pace probe for trials on ``device`` priced by ``profile``. On a CPU the baseline is, for a
    profile made on this CPU, the median pace of its calibration, else its probe's reference step;
    for another profile, this CPU's probe (cached; measured once, about 15 s). None on a GPU (the
    reference step is a CPU step) or when nothing holds the reference step."""
    if not device.startswith("cpu"):
        return None
    from green_estimate.fingerprint import cpu_fingerprint, same_cpu

    probe = getattr(profile, "probe", None)
    here = bool(probe) and same_cpu(probe.get("fingerprint", {}), cpu_fingerprint())
    calibrated = (getattr(profile, "data", None) or {}).get("pace") or {}
    if here and calibrated.get("reference") == list(PACE_REFERENCE) and calibrated.get("median_s", 0) > 0:
        return PaceProbe(float(calibrated["median_s"]))
    if not (here and baseline_s(probe)):
        from green_estimate.device_probe import probe_here

        probe = probe_here()
    base = baseline_s(probe)
    return PaceProbe(base) if base else None
