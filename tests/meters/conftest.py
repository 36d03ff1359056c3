"""A fake NVML: the real ``pynvml`` module autospecced, with its real error class and constants."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from unittest import mock

import pynvml
import pytest


@dataclass
class FakeGpu:
    """One board: name, UUID, energy counter readings (mJ) or None (unsupported), power readings (mW)."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    energy_mj: list[int] | None = field(default_factory=lambda: [1_000_000])
    power_mw: list[int] | None = field(default_factory=lambda: [100_000])
    mig_mode: list[int] | None = None  # [current, pending]; None: NOT_SUPPORTED


def nvml_error(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


def fake_pynvml(gpus: list[FakeGpu]) -> mock.MagicMock:
    """An autospec of pynvml whose devices are ``gpus``; handles are the GPUs' NVML indices.

    Energy and power lists are consumed one value per call; the last value repeats.
    """
    m = mock.create_autospec(pynvml)
    m.NVMLError = pynvml.NVMLError
    for name in dir(pynvml):
        if name.startswith("NVML_") and isinstance(getattr(pynvml, name), int):
            setattr(m, name, getattr(pynvml, name))
    m.nvmlInit.return_value = None
    m.nvmlShutdown.return_value = None
    m.nvmlDeviceGetCount.return_value = len(gpus)

    def handle(index: int) -> int:
        if not 0 <= index < len(gpus):
            raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return index

    def series(attr: str):
        def call(h: int) -> int:
            values = getattr(gpus[h], attr)
            if values is None:
                raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
            return values.pop(0) if len(values) > 1 else values[0]

        return call

    def mig_mode(h: int) -> list[int]:
        if gpus[h].mig_mode is None:
            raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return gpus[h].mig_mode

    m.nvmlDeviceGetHandleByIndex.side_effect = handle
    m.nvmlDeviceGetName.side_effect = lambda h: gpus[h].name
    m.nvmlDeviceGetUUID.side_effect = lambda h: gpus[h].uuid
    m.nvmlDeviceIsMigDeviceHandle.return_value = 0
    m.nvmlDeviceGetMigMode.side_effect = mig_mode
    m.nvmlDeviceGetTotalEnergyConsumption.side_effect = series("energy_mj")
    m.nvmlDeviceGetPowerUsage.side_effect = series("power_mw")
    return m


@pytest.fixture
def nvml_kit() -> SimpleNamespace:
    """``Gpu`` (FakeGpu), ``module(gpus)`` (fake_pynvml) and ``error(code)``, without importing conftest."""
    return SimpleNamespace(Gpu=FakeGpu, module=fake_pynvml, error=nvml_error)
