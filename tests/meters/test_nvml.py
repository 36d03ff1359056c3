"""NvmlMeter against an autospecced pynvml: counter and polling arithmetic, device mapping, errors."""
from __future__ import annotations

import ctypes
import sys
import time
from unittest import mock

import pynvml
import pytest

from green_estimate.errors import MeterPermissionError, MeterUnavailableError, UsageError
from green_estimate.meters.base import MEASURED, Meter, measure
from green_estimate.meters.fake import FakeClock
from green_estimate.meters.nvml import NvmlMeter, load_pynvml, visible_to_nvml_index

NO_CVD: dict[str, str] = {}


def test_counter_mode_converts_millijoules_to_joules(nvml_kit):
    gpu = nvml_kit.Gpu(energy_mj=[1_000_000, 1_250_500, 1_251_000])
    clock = FakeClock(10.0)
    meter = NvmlMeter(0, pynvml_module=nvml_kit.module([gpu]), clock=clock, env=NO_CVD)
    assert isinstance(meter, Meter)
    assert (meter.name, meter.provenance, meter.mode) == ("nvml", MEASURED, "counter")
    assert 0.02 <= meter.resolution_s <= 1.0
    clock.advance(2.0)
    first = meter.read()
    assert first.energy_j == pytest.approx((1_250_500 - 1_000_000) / 1000)  # 250.5 J
    assert first.time_s == 12.0
    second = meter.read()
    assert second.energy_j == pytest.approx((1_251_000 - 1_000_000) / 1000)  # 251.0 J
    meter.close()


def test_device_string_names_visible_and_physical_index(nvml_kit):
    gpus = [nvml_kit.Gpu(uuid=f"GPU-{i}aaa-0000") for i in range(3)]
    meter = NvmlMeter(0, pynvml_module=nvml_kit.module(gpus), env={"CUDA_VISIBLE_DEVICES": "2"})
    assert meter.device == "NVIDIA H100 80GB HBM3 (GPU 0, NVML index 2)"
    assert (meter.gpu_index, meter.nvml_index, meter.uuid) == (0, 2, "GPU-2aaa-0000")
    meter.close()


def test_polling_mode_integrates_with_trapezoid_rule(nvml_kit):
    # No counter: power 100 W at open (t=0), 200 W at t=0.5, 300 W at t=1.0.
    gpu = nvml_kit.Gpu(energy_mj=None, power_mw=[100_000, 200_000, 300_000])
    clock = FakeClock(0.0)
    meter = NvmlMeter(0, pynvml_module=nvml_kit.module([gpu]), clock=clock, background=False, env=NO_CVD)
    assert meter.mode == "polling"
    clock.advance(0.5)
    assert meter.read().energy_j == pytest.approx((100 + 200) / 2 * 0.5)  # 75 J
    clock.advance(0.5)
    assert meter.read().energy_j == pytest.approx(75 + (200 + 300) / 2 * 0.5)  # 200 J
    meter.close()


def test_polling_thread_samples_in_background_and_stops_on_close(nvml_kit):
    gpu = nvml_kit.Gpu(energy_mj=None, power_mw=[150_000])
    module = nvml_kit.module([gpu])
    meter = NvmlMeter(0, pynvml_module=module, poll_hz=200, env=NO_CVD)
    start = meter.read()
    time.sleep(0.1)
    end = meter.read()
    # Constant power: every trapezoid is 150 W × its width, so the sum is exact.
    assert end.energy_j - start.energy_j == pytest.approx(150.0 * (end.time_s - start.time_s), rel=1e-9)
    assert module.nvmlDeviceGetPowerUsage.call_count > 3  # open + 2 reads + the thread's samples
    meter.close()
    assert not meter._thread.is_alive()
    assert module.nvmlShutdown.called
    with pytest.raises(MeterUnavailableError, match="closed"):
        meter.read()


def test_forced_polling_mode_skips_the_counter(nvml_kit):
    module = nvml_kit.module([nvml_kit.Gpu()])
    meter = NvmlMeter(0, pynvml_module=module, mode="polling", background=False, env=NO_CVD)
    assert meter.mode == "polling"
    assert not module.nvmlDeviceGetTotalEnergyConsumption.called
    meter.close()


def test_measure_window_with_counter(nvml_kit):
    gpu = nvml_kit.Gpu(energy_mj=[5_000, 5_000, 7_500])
    meter = NvmlMeter(0, pynvml_module=nvml_kit.module([gpu]), clock=FakeClock(), env=NO_CVD)
    with measure(meter) as window:
        pass
    assert window.energy_j == pytest.approx(2.5)  # (7500 - 5000) mJ


def test_gpu_with_neither_counter_nor_power_is_unavailable(nvml_kit):
    module = nvml_kit.module([nvml_kit.Gpu(energy_mj=None, power_mw=None)])
    with pytest.raises(MeterUnavailableError, match="neither an energy counter nor power"):
        NvmlMeter(0, pynvml_module=module, env=NO_CVD)
    assert module.nvmlShutdown.called


def test_poll_rate_below_10_hz_is_refused(nvml_kit):
    with pytest.raises(UsageError, match="10 Hz"):
        NvmlMeter(0, pynvml_module=nvml_kit.module([nvml_kit.Gpu()]), poll_hz=5)


@pytest.mark.parametrize(
    ("cvd", "gpu_index", "expected"),
    [
        (None, 2, 2),
        ("2,3", 0, 2),
        ("2,3", 1, 3),
        ("3, 1", 1, 1),
        ("GPU-bbbb", 0, 1),
        ("0,GPU-dddd2222-ffff", 1, 3),
    ],
)
def test_visible_index_maps_to_nvml_index(nvml_kit, cvd, gpu_index, expected):
    uuids = ["GPU-aaaa1111-0000", "GPU-bbbb1111-0000", "GPU-cccc1111-0000", "GPU-dddd2222-ffff"]
    module = nvml_kit.module([nvml_kit.Gpu(uuid=u) for u in uuids])
    env = {} if cvd is None else {"CUDA_VISIBLE_DEVICES": cvd}
    assert visible_to_nvml_index(gpu_index, module, env) == expected


@pytest.mark.parametrize(
    ("cvd", "gpu_index", "message"),
    [
        (None, 4, "does not exist: NVML sees 4"),
        ("2,3", 2, "makes 2 GPU"),
        ("1,-1,0", 1, "makes 1 GPU"),  # CUDA stops at the first invalid entry
        ("", 0, "No GPU is visible"),
        ("7", 0, "No GPU is visible"),  # 4 GPUs: 7 names none
        ("GPU-ffff", 0, "No GPU is visible"),
        ("GPU-", 0, "matches 4 GPUs"),
        ("MIG-5f9e1a3c-0000-1111-2222-333344445555", 0, "no per-instance energy counter"),
    ],
)
def test_visible_index_errors_say_what_to_do(nvml_kit, cvd, gpu_index, message):
    uuids = ["GPU-aaaa1111-0000", "GPU-bbbb1111-0000", "GPU-cccc1111-0000", "GPU-dddd2222-ffff"]
    module = nvml_kit.module([nvml_kit.Gpu(uuid=u) for u in uuids])
    env = {} if cvd is None else {"CUDA_VISIBLE_DEVICES": cvd}
    with pytest.raises(MeterUnavailableError, match=message) as info:
        visible_to_nvml_index(gpu_index, module, env)
    assert "Fix:" in str(info.value)


def test_mig_device_handle_is_refused(nvml_kit):
    module = nvml_kit.module([nvml_kit.Gpu()])
    module.nvmlDeviceIsMigDeviceHandle.return_value = ctypes.c_uint(1)  # what pynvml really returns
    with pytest.raises(MeterUnavailableError, match="MIG instance"):
        NvmlMeter(0, pynvml_module=module, env=NO_CVD)


def test_mig_enabled_board_warns_that_energy_is_whole_board(nvml_kit):
    gpu = nvml_kit.Gpu(mig_mode=[pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE])
    meter = NvmlMeter(0, pynvml_module=nvml_kit.module([gpu]), env=NO_CVD)
    assert any("whole board" in w for w in meter.warnings)
    meter.close()


def test_mixed_gpus_without_pci_bus_order_warn(nvml_kit):
    gpus = [nvml_kit.Gpu(name="NVIDIA A100-SXM4-40GB", uuid="GPU-a"), nvml_kit.Gpu(uuid="GPU-b")]
    meter = NvmlMeter(1, pynvml_module=nvml_kit.module(gpus), env={})
    assert any("CUDA_DEVICE_ORDER=PCI_BUS_ID" in w for w in meter.warnings)
    meter.close()
    same = NvmlMeter(1, pynvml_module=nvml_kit.module(gpus), env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert same.warnings == ()
    same.close()


@pytest.mark.parametrize(
    ("code", "error", "fix"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, MeterUnavailableError, "install the NVIDIA driver"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, MeterUnavailableError, "modprobe nvidia"),
        (pynvml.NVML_ERROR_NO_PERMISSION, MeterPermissionError, "/dev/nvidia"),
        (pynvml.NVML_ERROR_UNKNOWN, MeterUnavailableError, "nvidia-smi"),
    ],
)
def test_init_failures_become_errors_with_fix(nvml_kit, code, error, fix):
    module = nvml_kit.module([nvml_kit.Gpu()])
    module.nvmlInit.side_effect = nvml_kit.error(code)
    with pytest.raises(error, match=fix) as info:
        NvmlMeter(0, pynvml_module=module, env=NO_CVD)
    assert isinstance(info.value.__cause__, pynvml.NVMLError)


def test_counter_read_failure_is_wrapped(nvml_kit):
    module = nvml_kit.module([nvml_kit.Gpu()])
    meter = NvmlMeter(0, pynvml_module=module, env=NO_CVD)
    module.nvmlDeviceGetTotalEnergyConsumption.side_effect = nvml_kit.error(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(MeterUnavailableError, match="fell off the bus"):
        meter.read()
    meter.close()


def test_missing_bindings_say_how_to_install():
    with mock.patch.dict(sys.modules, {"pynvml": None}):
        with pytest.raises(MeterUnavailableError, match="pip install nvidia-ml-py"):
            load_pynvml()


@pytest.mark.gpu
def test_real_nvml_counter_reads_plausible_idle_power():
    from green_estimate.meters.probe import probe_nvml

    status = probe_nvml(0)
    if not status.available:
        pytest.skip(f"NVML: {status.reason}")
    with NvmlMeter(0) as meter:
        start = meter.read()
        time.sleep(max(1.0, 10 * meter.resolution_s))
        end = meter.read()
    power_w = (end.energy_j - start.energy_j) / (end.time_s - start.time_s)
    assert 1.0 < power_w < 2000.0, f"{meter.device}: {power_w:.1f} W is not a GPU's draw"
