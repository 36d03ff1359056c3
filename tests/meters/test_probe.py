"""probe_meters, open_meter, best_meter and idle power: statuses with reasons, and which meter wins."""
from __future__ import annotations

from pathlib import Path

import pynvml
import pytest

from green_estimate.errors import MeterUnavailableError, UsageError
from green_estimate.meters.estimate import EstimateMeter
from green_estimate.meters.fake import FakeClock, FakeMeter
from green_estimate.meters.nvml import NvmlMeter
from green_estimate.meters.probe import (
    best_meter,
    diagnose_meters,
    measure_idle_power_w,
    open_meter,
    probe_nvml,
    probe_rapl,
    split_reason_fix,
)
from green_estimate.meters.rapl import RaplMeter


def rapl_tree(root: Path) -> Path:
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text("123\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    return root


@pytest.fixture
def no_nvml(nvml_kit):
    module = nvml_kit.module([])
    module.nvmlInit.side_effect = nvml_kit.error(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    return module


def test_split_reason_fix():
    assert split_reason_fix(MeterUnavailableError("No tree. Fix: load it.")) == ("No tree.", "load it.")
    assert split_reason_fix(MeterUnavailableError("Broken.")) == ("Broken.", "")


def test_nvml_status_when_library_missing(no_nvml):
    status = probe_nvml(1, pynvml_module=no_nvml, env={})
    assert not status.available and status.provenance == "measured"
    assert "libnvidia-ml.so.1" in status.reason
    assert status.fix.startswith("install the NVIDIA driver")
    assert status.details == {"gpu_index": 1}


def test_nvml_status_when_available(nvml_kit):
    module = nvml_kit.module([nvml_kit.Gpu()])
    status = probe_nvml(0, pynvml_module=module, env={})
    assert status.available
    assert status.device == "NVIDIA H100 80GB HBM3 (GPU 0, NVML index 0)"
    assert status.details["mode"] == "counter" and status.details["nvml_index"] == 0
    assert module.nvmlShutdown.called  # probing leaves nothing open


def test_rapl_status_permission_denied_has_fix(tmp_path):
    def kernel_like_reader(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text()

    status = probe_rapl(rapl_tree(tmp_path), reader=kernel_like_reader)
    assert not status.available
    assert "permission denied" in status.reason and "CVE-2020-8694" in status.reason
    assert status.fix.startswith("for this boot, `sudo chmod o+r")


def test_rapl_status_ok_on_fake_tree(tmp_path):
    status = probe_rapl(rapl_tree(tmp_path))
    assert status.available and status.device == "CPU package 0 (RAPL)"
    assert status.details["domains"] == ["package-0"]


def test_best_is_first_available_in_preference_order(tmp_path, nvml_kit, no_nvml):
    with_gpu = diagnose_meters(pynvml_module=nvml_kit.module([nvml_kit.Gpu()]), rapl_root=rapl_tree(tmp_path), env={})
    assert with_gpu.best == "nvml"
    cpu_only = diagnose_meters(pynvml_module=no_nvml, rapl_root=tmp_path, env={})
    assert cpu_only.best == "rapl"
    nothing = diagnose_meters(pynvml_module=no_nvml, rapl_root=tmp_path / "absent", env={})
    assert nothing.best == "estimate"
    doc = nothing.to_dict()
    assert doc["schema"] == "green-estimate/meters@1"
    assert [m["name"] for m in doc["meters"]] == ["nvml", "rapl", "estimate"]
    assert [m["status"] for m in doc["meters"]] == ["unavailable", "unavailable", "ok"]


def test_best_meter_falls_back_in_order(tmp_path, nvml_kit, no_nvml):
    gpu_module = nvml_kit.module([nvml_kit.Gpu()])
    meter = best_meter(gpu_index=0, pynvml_module=gpu_module, rapl_root=tmp_path, env={})
    assert isinstance(meter, NvmlMeter)
    meter.close()
    unused = nvml_kit.module([nvml_kit.Gpu()])
    assert isinstance(best_meter(pynvml_module=unused, rapl_root=rapl_tree(tmp_path)), RaplMeter)
    assert not unused.nvmlInit.called  # no GPU index: NVML is not even tried
    fallback = best_meter(gpu_index=0, watts=42.0, pynvml_module=no_nvml, rapl_root=tmp_path / "absent", env={})
    assert isinstance(fallback, EstimateMeter) and fallback.power_w == 42.0


def test_open_meter_by_name(tmp_path, nvml_kit, no_nvml):
    assert isinstance(open_meter("rapl", rapl_root=rapl_tree(tmp_path)), RaplMeter)
    assert open_meter("estimate", watts=65.0).power_w == 65.0
    assert open_meter("fake", watts=10.0).power_w == 10.0
    nvml = open_meter("nvml", gpu_index=0, pynvml_module=nvml_kit.module([nvml_kit.Gpu()]), env={})
    assert nvml.name == "nvml"
    nvml.close()
    with pytest.raises(MeterUnavailableError, match="libnvidia-ml"):
        open_meter("nvml", pynvml_module=no_nvml, env={})  # a named backend raises, never falls back
    assert open_meter("auto", pynvml_module=no_nvml, rapl_root=tmp_path / "absent").name == "estimate"
    with pytest.raises(UsageError, match="choose one of auto, nvml, rapl, estimate, fake"):
        open_meter("joulemeter")


def test_idle_power_is_energy_over_time():
    clock = FakeClock()
    meter = FakeMeter(power_w=42.0, clock=clock)
    assert measure_idle_power_w(meter, 5.0, sleep=clock.sleep) == pytest.approx(42.0)
    with pytest.raises(UsageError):
        measure_idle_power_w(meter, 0.0, sleep=clock.sleep)


def test_probe_on_this_machine_explains_missing_sensors():
    """On the 2-core CI machine (no GPU driver, no powercap) both sensors are unavailable with a fix."""
    report = diagnose_meters()
    by_name = {s.name: s for s in report.meters}
    assert by_name["estimate"].available
    if not Path("/dev/nvidiactl").exists():
        assert not by_name["nvml"].available and by_name["nvml"].reason and by_name["nvml"].fix
    if not Path("/sys/class/powercap").exists():
        assert not by_name["rapl"].available and "modprobe" in by_name["rapl"].fix
    if not by_name["nvml"].available and not by_name["rapl"].available:
        assert report.best == "estimate"


def test_best_meter_reports_why_rapl_was_passed_over(tmp_path):
    from green_estimate.meters.probe import best_meter

    meter = best_meter(rapl_root=tmp_path / "no-powercap", watts=10.0)
    assert meter.name == "estimate"
    assert len(meter.passed_over) == 1 and meter.passed_over[0].startswith("rapl: ")
    assert "Fix:" in meter.passed_over[0]
