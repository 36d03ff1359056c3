"""EstimateMeter: time × watts with a fake clock, and the documented CPU default."""
from __future__ import annotations

from pathlib import Path

import pytest

from green_estimate.errors import UsageError
from green_estimate.meters.base import ESTIMATED, Meter
from green_estimate.meters.cpu_power import CCF_WATTS_PER_VCPU, cpu_family
from green_estimate.meters.estimate import CPU_TDP_TABLE, EstimateMeter, cpu_identity, cpu_model_name, default_cpu_power
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


def test_default_is_ccf_full_load_per_vcpu_with_a_range(tmp_path):
    path = cpuinfo(tmp_path, "AMD EPYC 7763 64-Core Processor")  # Milan: CCF's EPYC 3rd Gen row
    meter = EstimateMeter(cpuinfo=path, logical_cpus=8, clock=FakeClock())
    assert meter.power_w == pytest.approx(8 * 1.95)                      # 15.6 W at full load
    low, high = meter.power_w_range
    assert low == pytest.approx(8 * (0.43 + 0.5 * (1.95 - 0.43)))        # CCF's default 50 % utilisation
    assert high == pytest.approx(280 / 128 * 8)                          # the TDP per thread is higher: 17.5 W
    assert "AMD EPYC 3rd Gen" in meter.power_source and "Cloud Carbon Footprint" in meter.power_source
    assert "EPYC 7763" in meter.power_source and "8 logical CPU" in meter.device


@pytest.mark.parametrize("model, family", [
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "Intel Cascade Lake"),
    ("Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz", "Intel Skylake"),
    ("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", "Intel Ice Lake"),
    ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Intel Broadwell"),
    ("Intel(R) Xeon(R) CPU E5-2670 v2 @ 2.50GHz", "Intel Ivy Bridge"),
    ("Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz", "Intel Sandy Bridge"),
    ("AMD EPYC 7R32", "AMD EPYC 2nd Gen"), ("AMD EPYC 7571", "AMD EPYC 1st Gen"),
    ("AMD EPYC", "average"), ("Intel(R) Xeon(R) Processor", "average"),
])
def test_cpu_families(model, family):
    assert cpu_family(model) == family
    lo, hi = CCF_WATTS_PER_VCPU[family]
    power_w, source = default_cpu_power(model, 2)
    assert power_w == pytest.approx(2 * hi) and family.split()[-1] in source


def test_unknown_cpu_uses_ccf_average(tmp_path):
    meter = EstimateMeter(cpuinfo=cpuinfo(tmp_path, "Intel(R) Xeon(R) Processor"), logical_cpus=3)
    assert meter.power_w == pytest.approx(3.5 * 3)
    assert meter.power_w_range == pytest.approx((3 * (0.74 + 0.5 * (3.5 - 0.74)), 3 * 3.5))
    assert "family unknown, CCF's average" in meter.power_source and "--watts" in meter.power_source


def test_every_table_entry_names_its_source():
    for cpu in CPU_TDP_TABLE:
        assert f"{cpu.tdp_w:g} W" in cpu.source and f"{cpu.threads} threads" in cpu.source


def test_missing_cpuinfo_is_unknown_cpu(tmp_path):
    assert cpu_model_name(tmp_path / "absent") == "unknown CPU"


@pytest.mark.parametrize("watts", [0.0, -5.0, float("nan")])
def test_non_positive_watts_are_a_usage_error(watts):
    with pytest.raises(UsageError, match="--watts"):
        EstimateMeter(watts)


def test_cpu_model_name_is_the_one_cpuinfo_reader(tmp_path):
    import platform

    from green_estimate import fingerprint

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU\n")
    assert cpu_model_name(info) == "Intel(R) Xeon(R) Gold 6338 CPU"
    assert cpu_model_name(tmp_path / "missing", default="x86_64") == "x86_64"
    # the profile's fingerprint reads this machine's CPU through it
    assert fingerprint.cpu_fingerprint()["cpu_model"] == cpu_model_name(default=platform.processor() or platform.machine())


def test_cpu_identity_tells_apart_cpus_of_one_name(tmp_path):
    zen3, zen4, arm = tmp_path / "zen3", tmp_path / "zen4", tmp_path / "arm"
    head = "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
    zen3.write_text(head + "cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nstepping\t: 1\n"
                    "processor\t: 1\ncpu family\t: 99\nmodel\t\t: 99\nstepping\t: 9\n")  # the first CPU's counts
    zen4.write_text(head + "cpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n")
    arm.write_text("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
                   "CPU variant\t: 0x1\nCPU part\t: 0xd0c\n")
    assert cpu_model_name(zen3) == cpu_model_name(zen4) == "AMD EPYC"
    assert (cpu_identity(zen3), cpu_identity(zen4)) == ("25/1/1", "25/17/1")
    assert cpu_identity(arm) == "0x41/0xd0c/0x1"
    assert cpu_identity(tmp_path / "missing") is None


def test_same_cpu_compares_identity_and_isa_only_where_both_know_them():
    from green_estimate.fingerprint import same_cpu

    old = {"cpu_model": "AMD EPYC", "threads": 2}  # a profile made before cpu_id and isa were recorded
    zen4 = {**old, "cpu_id": "25/17/1", "isa": "AVX512"}
    assert same_cpu(old, zen4) and same_cpu(zen4, old)
    assert not same_cpu(zen4, {**zen4, "cpu_id": "25/1/1"})  # another CPU of the same name
    assert not same_cpu(zen4, {**zen4, "isa": "AVX2"})        # torch's kernels use other instructions
    assert not same_cpu(zen4, {**zen4, "threads": 1})
    assert same_cpu(zen4, {**zen4, "threads": 1}, threads=False)
    assert not same_cpu(zen4, {**zen4, "cpu_model": "Intel Xeon"}, threads=False)


def test_a_cpu_is_described_by_what_tells_it_apart():
    from green_estimate.fingerprint import describe_cpu

    assert describe_cpu({"cpu_model": "AMD EPYC", "threads": 2, "cpu_id": "25/17/1", "isa": "AVX512"}) == \
        "AMD EPYC (2 threads, cpu 25/17/1, AVX512)"
    assert describe_cpu({"cpu_model": "AMD EPYC", "threads": 1}) == "AMD EPYC (1 threads)"
