"""The estimate meter: energy = wall time × stated watts, for machines with no energy sensor.

Its numbers are ``estimated``, never ``measured``. The watts are either given by the user
(``--watts``) or a documented CPU default: Cloud Carbon Footprint's per-vCPU power of the CPU's
micro-architecture at full load, times the logical CPUs this process may run on, with a range
(:mod:`green_estimate.meters.cpu_power`). The datasheet TDP table below widens that range where it
knows the CPU. Memory, disks and the rest of the machine are not included. ``power_source`` says
which figures were used and where they come from; ``power_w_range`` is the range.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from green_estimate.errors import UsageError
from green_estimate.meters.base import ESTIMATED, Reading, monotonic_s

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuPower:
    """A CPU's datasheet power and thread count, and where the figures come from."""

    pattern: str  # regex searched in /proc/cpuinfo "model name"
    tdp_w: float
    threads: int
    source: str

    @property
    def w_per_thread(self) -> float:
        return self.tdp_w / self.threads


def _read_cpu_table() -> tuple[CpuPower, ...]:
    """Vendor datasheet figures (``data/cpus.json``): TDP and hardware threads, which raise the top of
    the default's range (a CPU may draw its TDP while boosting). More specific patterns come first."""
    text = resources.files("green_estimate").joinpath("data/cpus.json").read_text(encoding="utf-8")
    return tuple(CpuPower(**row) for row in json.loads(text)["cpus"])


CPU_TDP_TABLE: tuple[CpuPower, ...] = _read_cpu_table()


def _cpuinfo_fields(cpuinfo: Path) -> dict[str, str]:
    """The first non-empty value of each key in ``cpuinfo`` (the one reader of ``/proc/cpuinfo``;
    empty when unreadable)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return {}
    first: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip():
            first.setdefault(key.strip(), value.strip())
    return first


def cpu_model_name(cpuinfo: Path = CPUINFO, default: str = "unknown CPU") -> str:
    """The first ``model name`` in ``cpuinfo``, or ``default``."""
    return _cpuinfo_fields(cpuinfo).get("model name", default)


def cpu_identity(cpuinfo: Path = CPUINFO) -> str | None:
    """What tells CPUs of one marketing name apart: x86's ``cpu family/model/stepping`` (some cloud
    VMs name every EPYC generation just "AMD EPYC"), or ARM's ``CPU implementer/part/variant``; None
    when unreadable."""
    first = _cpuinfo_fields(cpuinfo)
    for keys in (("cpu family", "model", "stepping"), ("CPU implementer", "CPU part", "CPU variant")):
        if all(first.get(k) for k in keys):
            return "/".join(first[k] for k in keys)
    return None


def logical_cpus_in_use() -> int:
    """Logical CPUs this process may run on (its affinity mask; ``os.cpu_count()`` elsewhere)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def tdp_per_thread(model: str) -> CpuPower | None:
    """The TDP table's entry for CPU ``model``, or None."""
    return next((cpu for cpu in CPU_TDP_TABLE if re.search(cpu.pattern, model)), None)


def default_cpu_power(model: str, logical_cpus: int) -> tuple[float, str]:
    """Watts for ``logical_cpus`` busy threads of CPU ``model``, and a sentence saying where they come from."""
    est = default_cpu_power_range(model, logical_cpus)
    return est.power_w, est.source


def default_cpu_power_range(model: str, logical_cpus: int):  # -> cpu_power.CpuPowerEstimate
    """The default watts with their range and source (Cloud Carbon Footprint's coefficients, see
    :mod:`green_estimate.meters.cpu_power`; a known TDP raises the top of the range)."""
    from green_estimate.meters.cpu_power import busy_cpu_power

    cpu = tdp_per_thread(model)
    est = busy_cpu_power(model, logical_cpus, cpu.w_per_thread if cpu else None)
    if cpu is not None:
        return type(est)(est.power_w, est.low_w, est.high_w, est.family, f"{est.source}; TDP: {cpu.source}")
    return type(est)(est.power_w, est.low_w, est.high_w, est.family,
                     f"{est.source}; pass --watts for a figure of your own")


class EstimateMeter:
    """Energy = elapsed wall time × ``power_w``. Provenance ``estimated``, always.

    Attributes:
        power_w: the assumed constant draw.
        power_source: where ``power_w`` comes from, in words.

    Example:
        >>> meter = EstimateMeter(65.0)   # or EstimateMeter() for the CPU default
    """

    name = "estimate"
    provenance = ESTIMATED
    resolution_s = 1e-3  # limited only by the clock; 1 ms is a safe floor for perf_counter

    def __init__(
        self,
        power_w: float | None = None,
        *,
        clock: Callable[[], float] = monotonic_s,
        cpuinfo: Path = CPUINFO,
        logical_cpus: int | None = None,
    ) -> None:
        """Fix the watts and start the clock.

        Args:
            power_w: watts to assume; None uses the CPU default described in the module docstring.
            clock: the time source.
            cpuinfo: where the CPU model name is read from.
            logical_cpus: CPUs in use for the default; None reads this process's affinity.
        """
        if power_w is None:
            model = cpu_model_name(cpuinfo)
            n = logical_cpus_in_use() if logical_cpus is None else logical_cpus
            est = default_cpu_power_range(model, n)
            power_w, self.power_source = est.power_w, est.source
            self.power_w_range = (est.low_w, est.high_w)
            self.device = f"{model} ({n} logical CPU(s)), {power_w:.3g} W assumed ({est.low_w:.3g}-{est.high_w:.3g} W)"
        else:
            if not power_w > 0:
                raise UsageError(f"--watts {power_w} must be a positive number of watts, e.g. --watts 65")
            self.power_source = "given by the user (--watts)"
            self.power_w_range = (float(power_w), float(power_w))
            self.device = f"{power_w:.3g} W assumed (user-given)"
        self.power_w = float(power_w)
        self._clock = clock
        self._t0 = clock()

    def read(self) -> Reading:
        """Elapsed time × watts since the meter opened."""
        t_s = self._clock()
        return Reading(energy_j=(t_s - self._t0) * self.power_w, time_s=t_s)

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> EstimateMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
