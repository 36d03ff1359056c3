"""EstimateMeter: time × watts with a fake clock, and the documented CPU default."""
from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from green_estimate.errors import UsageError
from green_estimate.meters.base import ESTIMATED, Meter
from green_estimate.meters.estimate import (
    CPU_TDP_TABLE,
    FALLBACK_W_PER_THREAD,
    EstimateMeter,
    cpu_model_name,
    default_cpu_power,
)
from green_estimate.meters.fake import FakeClock


def cpuinfo(tmp_path: Path, model: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nvendor_id\t: x\nmodel name\t: {model}\nflags\t\t: fpu\n\nprocessor\t: 1\n")
    return path


def test_energy_is_elapsed_time_times_watts():
    clock = FakeClock(100.0)
    meter = EstimateMeter(50.0, clock=clock)
    assert isinstance(meter, Meter)
    assert (meter.name, meter.provenance) == ("estimate", ESTIMATED)
    assert meter.power_source == "given by the user (--watts)"
    clock.advance(3.0)
    reading = meter.read()
    assert reading.energy_j == pytest.approx(3.0 * 50.0)
    assert reading.time_s == 103.0
    clock.advance(0.5)
    assert meter.read().energy_j == pytest.approx(3.5 * 50.0)


def test_default_uses_datasheet_tdp_per_thread(tmp_path):
    path = cpuinfo(tmp_path, "AMD EPYC 7763 64-Core Processor")
    meter = EstimateMeter(cpuinfo=path, logical_cpus=8, clock=FakeClock())
    assert meter.power_w == pytest.approx(280 / 128 * 8)  # 17.5 W
    assert "EPYC 7763" in meter.power_source and "280 W" in meter.power_source
    assert "8 logical CPU" in meter.device


def test_more_specific_model_matches_first():
    power_w, source = default_cpu_power("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 2)
    assert power_w == pytest.approx(205 / 48 * 2)
    assert "6248R" in source
    power_w, _ = default_cpu_power("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", 2)
    assert power_w == pytest.approx(150 / 40 * 2)


def test_unknown_cpu_uses_the_documented_fallback(tmp_path):
    meter = EstimateMeter(cpuinfo=cpuinfo(tmp_path, "Intel(R) Xeon(R) Processor"), logical_cpus=3)
    assert meter.power_w == pytest.approx(4.0 * 3)
    assert meter.power_source.startswith("fallback 4 W per logical CPU")


def test_fallback_is_not_below_the_table_median():
    assert FALLBACK_W_PER_THREAD >= statistics.median(c.tdp_w / c.threads for c in CPU_TDP_TABLE)


def test_every_table_entry_names_its_source():
    for cpu in CPU_TDP_TABLE:
        assert f"{cpu.tdp_w:g} W" in cpu.source and f"{cpu.threads} threads" in cpu.source


def test_missing_cpuinfo_is_unknown_cpu(tmp_path):
    assert cpu_model_name(tmp_path / "absent") == "unknown CPU"


@pytest.mark.parametrize("watts", [0.0, -5.0, float("nan")])
def test_non_positive_watts_are_a_usage_error(watts):
    with pytest.raises(UsageError, match="--watts"):
        EstimateMeter(watts)
