"""The meter interface: one small protocol over every energy source.

A meter reports *cumulative* energy in joules and a monotonic time in seconds; a measurement is the
difference of two readings. Units are converted to SI at each backend's boundary (NVML gives mJ,
RAPL gives µJ), so everything above this module speaks joules and seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

MEASURED = "measured"
ESTIMATED = "estimated"
DATASHEET = "datasheet"


@dataclass(frozen=True)
class Reading:
    """A cumulative reading: energy since the meter opened, and a monotonic clock."""

    energy_j: float
    time_s: float


@runtime_checkable
class Meter(Protocol):
    """What every energy source implements.

    Attributes:
        name: backend name, e.g. ``"nvml"``, ``"rapl"``, ``"estimate"``, ``"fake"``.
        provenance: ``"measured"`` for a hardware counter, ``"estimated"`` for time × watts.
        device: what is measured, in words (``"NVIDIA H100 80GB HBM3 (GPU 0)"``, ``"CPU package 0+1"``).
        resolution_s: the shortest window over which a reading difference is meaningful.
    """

    name: str
    provenance: str
    device: str
    resolution_s: float

    def read(self) -> Reading:
        """Cumulative energy (J) since the meter opened, and the time (s) of the reading."""
        ...

    def close(self) -> None:
        """Release the device (stop polling threads, shut NVML down)."""
        ...


@dataclass
class Window:
    """Energy and time between two readings of one meter."""

    energy_j: float = 0.0
    time_s: float = 0.0


class measure:  # noqa: N801 - used like a function: ``with measure(meter) as w:``
    """Context manager that measures energy and time of its block.

    Example:
        >>> with measure(meter) as window:
        ...     run_step()
        >>> window.energy_j, window.time_s
    """

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.window = Window()
        self._start: Reading | None = None

    def __enter__(self) -> Window:
        self._start = self.meter.read()
        return self.window

    def __exit__(self, *exc: object) -> None:
        end = self.meter.read()
        assert self._start is not None
        self.window.energy_j = end.energy_j - self._start.energy_j
        self.window.time_s = end.time_s - self._start.time_s


@dataclass(frozen=True)
class MeterStatus:
    """Whether a backend works here, and if not, why and how to fix it."""

    name: str
    available: bool
    provenance: str
    device: str = ""
    reason: str = ""
    fix: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "available": self.available,
            "status": "ok" if self.available else "unavailable",
            "provenance": self.provenance,
            "device": self.device,
            "reason": self.reason,
            "fix": self.fix,
            "details": dict(self.details),
        }


def monotonic_s() -> float:
    """The clock every meter uses."""
    return time.perf_counter()
