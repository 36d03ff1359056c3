"""Energy meters: NVML (GPU), RAPL (CPU package + DRAM), estimate (time × watts) and a fake.

Every backend implements :class:`~green_estimate.meters.base.Meter`; :func:`probe_meters` says
which work here and why the others don't. Importing this package imports no vendor library.
"""
from __future__ import annotations

from green_estimate.meters.base import (
    DATASHEET,
    ESTIMATED,
    MEASURED,
    Meter,
    MeterStatus,
    Reading,
    Window,
    measure,
    monotonic_s,
)
from green_estimate.meters.estimate import EstimateMeter
from green_estimate.meters.fake import FakeClock, FakeMeter
from green_estimate.meters.nvml import NvmlMeter, visible_to_nvml_index
from green_estimate.meters.probe import (
    MeterReport,
    best_meter,
    diagnose_meters,
    measure_idle_power_w,
    open_meter,
    probe_meters,
)
from green_estimate.meters.rapl import RaplDomain, RaplMeter

__all__ = [
    "DATASHEET",
    "ESTIMATED",
    "MEASURED",
    "EstimateMeter",
    "FakeClock",
    "FakeMeter",
    "Meter",
    "MeterReport",
    "MeterStatus",
    "NvmlMeter",
    "RaplDomain",
    "RaplMeter",
    "Reading",
    "Window",
    "best_meter",
    "diagnose_meters",
    "measure",
    "measure_idle_power_w",
    "monotonic_s",
    "open_meter",
    "probe_meters",
    "visible_to_nvml_index",
]
