"""Which meters work on this machine, opening one by name, and idle power.

Probing opens each backend, takes a reading and closes it; nothing is cached (call it again after
fixing a permission). Meter errors follow one convention: the message is ``"<reason> Fix: <fix>"``,
which the probe splits into :class:`MeterStatus` ``reason`` and ``fix``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from green_estimate.errors import MeterUnavailableError, UsageError
from green_estimate.meters.base import ESTIMATED, MEASURED, Meter, MeterStatus
from green_estimate.meters.estimate import EstimateMeter
from green_estimate.meters.fake import FakeMeter
from green_estimate.meters.nvml import NvmlMeter
from green_estimate.meters.rapl import DEFAULT_ROOT, RaplMeter

SCHEMA = "green-estimate/meters@1"
KINDS = ("auto", "nvml", "rapl", "estimate", "fake")
PREFERENCE = ("nvml", "rapl", "estimate")  # measured sources first; estimate always works


def split_reason_fix(error: Exception) -> tuple[str, str]:
    """``"<reason> Fix: <fix>"`` → ``(reason, fix)``; a message without ``Fix:`` is all reason."""
    reason, _, fix = str(error).partition(" Fix: ")
    return reason.strip(), fix.strip()


def _unavailable(name: str, provenance: str, error: MeterUnavailableError, details: dict) -> MeterStatus:
    reason, fix = split_reason_fix(error)
    return MeterStatus(name, False, provenance, reason=reason, fix=fix, details=details)


def probe_nvml(
    gpu_index: int = 0, *, pynvml_module: Any = None, env: Mapping[str, str] | None = None
) -> MeterStatus:
    """Whether visible GPU ``gpu_index`` can be metered through NVML, and if not why."""
    details: dict = {"gpu_index": gpu_index}
    try:
        meter = NvmlMeter(gpu_index, pynvml_module=pynvml_module, background=False, env=env)
    except MeterUnavailableError as e:
        return _unavailable("nvml", MEASURED, e, details)
    try:
        meter.read()
        details.update(
            nvml_index=meter.nvml_index,
            uuid=meter.uuid,
            mode=meter.mode,
            resolution_s=meter.resolution_s,
            warnings=list(meter.warnings),
        )
        return MeterStatus("nvml", True, MEASURED, device=meter.device, details=details)
    except MeterUnavailableError as e:
        return _unavailable("nvml", MEASURED, e, details)
    finally:
        meter.close()


def probe_rapl(root: Path = DEFAULT_ROOT, *, reader: Callable[[Path], str] | None = None) -> MeterStatus:
    """Whether RAPL package+DRAM counters under ``root`` are readable, and if not why."""
    details: dict = {"root": str(root)}
    kwargs = {} if reader is None else {"reader": reader}
    try:
        meter = RaplMeter(root, **kwargs)
        meter.read()
    except MeterUnavailableError as e:
        return _unavailable("rapl", MEASURED, e, details)
    details.update(domains=[d.label for d in meter.domains], resolution_s=meter.resolution_s)
    meter.close()
    return MeterStatus("rapl", True, MEASURED, device=meter.device, details=details)


def probe_estimate(watts: float | None = None) -> MeterStatus:
    """The estimate meter always works; its status says which watts it would assume and why."""
    meter = EstimateMeter(watts)
    details = {"power_w": meter.power_w, "power_source": meter.power_source, "power_w_range": list(meter.power_w_range), "resolution_s": meter.resolution_s}
    return MeterStatus("estimate", True, ESTIMATED, device=meter.device, details=details)


def probe_meters(
    *,
    gpu_index: int = 0,
    rapl_root: Path = DEFAULT_ROOT,
    pynvml_module: Any = None,
    env: Mapping[str, str] | None = None,
    watts: float | None = None,
) -> list[MeterStatus]:
    """Status of nvml, rapl and estimate, in order of preference."""
    return [
        probe_nvml(gpu_index, pynvml_module=pynvml_module, env=env),
        probe_rapl(rapl_root),
        probe_estimate(watts),
    ]


@dataclass(frozen=True)
class MeterReport:
    """What ``green-estimate meters`` reports: every backend's status and the one that would be used."""

    meters: list[MeterStatus]
    best: str

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "meters": [m.to_dict() for m in self.meters], "best": self.best}


def diagnose_meters(
    *,
    gpu_index: int = 0,
    rapl_root: Path = DEFAULT_ROOT,
    pynvml_module: Any = None,
    env: Mapping[str, str] | None = None,
) -> MeterReport:
    """Probe every backend; ``best`` is the first available in the order nvml, rapl, estimate."""
    statuses = probe_meters(gpu_index=gpu_index, rapl_root=rapl_root, pynvml_module=pynvml_module, env=env)
    best = next(s.name for s in statuses if s.available)
    return MeterReport(statuses, best)


def best_meter(*, gpu_index: int | None = None, watts: float | None = None, rapl_root: Path = DEFAULT_ROOT,
               pynvml_module: Any = None, env: Mapping[str, str] | None = None) -> Meter:
    """The most trustworthy meter here: NVML (if ``gpu_index`` is given and it works), else RAPL, else estimate.

    The result may measure a different device than asked for (RAPL reads the CPU) or not measure at
    all (estimate): callers must show its ``name``, ``device`` and ``provenance``, and its
    ``passed_over`` list — why each better meter was not used, with the fix (a RAPL permission
    problem is never silently replaced by an estimate). To insist on one
    backend, use :func:`open_meter` with its name, which raises with the fix instead.
    """
    passed_over: list[str] = []
    if gpu_index is not None:
        try:
            return NvmlMeter(gpu_index, pynvml_module=pynvml_module, env=env)
        except MeterUnavailableError as e:
            passed_over.append(f"nvml: {e}")  # fall through; the caller states which meter it got
    try:
        meter: Meter = RaplMeter(rapl_root)
    except MeterUnavailableError as e:  # a permission problem included: it is reported, not hidden
        passed_over.append(f"rapl: {e}")
        meter = EstimateMeter(watts)
    meter.passed_over = passed_over  # type: ignore[attr-defined]
    return meter


def open_meter(kind: str, *, gpu_index: int | None = None, watts: float | None = None, rapl_root: Path = DEFAULT_ROOT,
               pynvml_module: Any = None, env: Mapping[str, str] | None = None) -> Meter:
    """Open the meter named ``kind``: ``nvml``, ``rapl``, ``estimate``, ``fake`` or ``auto`` (:func:`best_meter`).

    Raises:
        UsageError: unknown kind.
        MeterUnavailableError: the named backend does not work here (the message says how to fix it).
    """
    if kind == "auto":
        return best_meter(gpu_index=gpu_index, watts=watts, rapl_root=rapl_root, pynvml_module=pynvml_module, env=env)
    if kind == "nvml":
        return NvmlMeter(0 if gpu_index is None else gpu_index, pynvml_module=pynvml_module, env=env)
    if kind == "rapl":
        return RaplMeter(rapl_root)
    if kind == "estimate":
        return EstimateMeter(watts)
    if kind == "fake":
        return FakeMeter(100.0 if watts is None else watts)
    raise UsageError(f"Unknown meter {kind!r}: choose one of {', '.join(KINDS)}.")


def measure_idle_power_w(meter: Meter, seconds: float, sleep: Callable[[float], None] = time.sleep) -> float:
    """Average power (W) the meter reads while this process does nothing for ``seconds``.

    Subtract it × time from a window to get the energy the work *caused*; the electricity bill is the
    total. Keep ``seconds`` well above ``meter.resolution_s`` (>= 10×) and let the device cool to idle.
    """
    if not seconds > 0:
        raise UsageError(f"idle window of {seconds} s: give a positive number of seconds, e.g. 5")
    start = meter.read()
    sleep(seconds)
    end = meter.read()
    elapsed_s = end.time_s - start.time_s
    if elapsed_s <= 0:
        raise MeterUnavailableError(
            f"The {meter.name} meter's clock did not advance during {seconds} s of idle. Fix: report this as a bug."
        )
    return (end.energy_j - start.energy_j) / elapsed_s
