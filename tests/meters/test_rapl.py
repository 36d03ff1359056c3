"""RaplMeter against a fake powercap tree in tmp_path: discovery, sums, wrap-around, failures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from green_estimate.errors import MeterPermissionError, MeterUnavailableError
from green_estimate.meters.base import MEASURED, Meter
from green_estimate.meters.fake import FakeClock
from green_estimate.meters.rapl import RaplMeter, discover_domains

MAX_UJ = 262_143_328_850  # a real Intel max_energy_range_uj


def zone(root: Path, dirname: str, name: str, energy_uj: int, max_uj: int = MAX_UJ) -> Path:
    path = root / dirname
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


def set_uj(path: Path, energy_uj: int) -> None:
    (path / "energy_uj").write_text(f"{energy_uj}\n")


@pytest.fixture
def two_sockets(tmp_path: Path) -> dict[str, Path]:
    """The flat /sys/class/powercap layout of a 2-socket Intel server."""
    return {
        "pkg0": zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000),
        "core0": zone(tmp_path, "intel-rapl:0:0", "core", 500_000),
        "dram0": zone(tmp_path, "intel-rapl:0:1", "dram", 200_000),
        "pkg1": zone(tmp_path, "intel-rapl:1", "package-1", 3_000_000),
        "dram1": zone(tmp_path, "intel-rapl:1:0", "dram", 400_000),
    }


def test_sums_package_and_dram_of_every_socket(tmp_path, two_sockets):
    (tmp_path / "intel-rapl").mkdir()  # the control-type directory is not a zone
    clock = FakeClock(5.0)
    meter = RaplMeter(tmp_path, clock=clock)
    assert isinstance(meter, Meter)
    assert (meter.name, meter.provenance) == ("rapl", MEASURED)
    assert sorted(d.label for d in meter.domains) == ["dram-0", "dram-1", "package-0", "package-1"]
    assert meter.device == "CPU package 0+1, DRAM 0+1 (RAPL)"
    set_uj(two_sockets["pkg0"], 1_000_000 + 30_000_000)  # +30 J
    set_uj(two_sockets["dram0"], 200_000 + 4_000_000)  # +4 J
    set_uj(two_sockets["pkg1"], 3_000_000 + 25_500_000)  # +25.5 J
    set_uj(two_sockets["dram1"], 400_000 + 3_000_000)  # +3 J
    set_uj(two_sockets["core0"], 900_000_000)  # core is inside the package: ignored by default
    clock.advance(1.5)
    reading = meter.read()
    assert reading.energy_j == pytest.approx(30 + 4 + 25.5 + 3)
    assert reading.time_s == 6.5
    per = meter.per_domain()
    assert per["package-0"].energy_j == pytest.approx(30.0)
    assert per["dram-1"].energy_j == pytest.approx(3.0)


def test_wrap_around_adds_the_rest_of_the_range(tmp_path):
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 900, max_uj=1000)
    meter = RaplMeter(tmp_path)
    set_uj(pkg, 100)  # wrapped: 900 → 1000, one step to 0, then 0 → 100
    assert meter.read().energy_j == pytest.approx((1000 + 1 - 900 + 100) / 1e6)  # 201 µJ
    set_uj(pkg, 150)  # no wrap: +50 µJ
    assert meter.read().energy_j == pytest.approx((201 + 50) / 1e6)


def test_wrap_on_one_domain_leaves_the_other_alone(tmp_path):
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 9_000_000, max_uj=10_000_000)
    dram = zone(tmp_path, "intel-rapl:0:0", "dram", 100)
    meter = RaplMeter(tmp_path)
    set_uj(pkg, 1_000_000)  # (10_000_000 + 1 - 9_000_000) + 1_000_000 = 2_000_001 µJ
    set_uj(dram, 600)  # +500 µJ
    per = meter.per_domain()
    assert per["package-0"].energy_j == pytest.approx(2_000_001 / 1e6)
    assert per["dram-0"].energy_j == pytest.approx(500 / 1e6)


def test_wrap_period_is_range_over_power(tmp_path):
    zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=65_532_610_987)
    zone(tmp_path, "intel-rapl:0:0", "dram", 0, max_uj=MAX_UJ)
    meter = RaplMeter(tmp_path)
    assert meter.wrap_period_s(300.0) == pytest.approx(65_532.610987 / 300.0)  # ≈ 218 s


def test_amd_single_package_without_dram(tmp_path):
    zone(tmp_path, "intel-rapl:0", "package-0", 10)
    meter = RaplMeter(tmp_path)
    assert [d.label for d in meter.domains] == ["package-0"]
    assert meter.device == "CPU package 0 (RAPL)"


def test_psys_and_core_only_when_asked(tmp_path, two_sockets):
    zone(tmp_path, "intel-rapl:2", "psys", 0)
    default = {d.kind for d in RaplMeter(tmp_path).domains}
    assert default == {"package", "dram"}
    asked = RaplMeter(tmp_path, domains=("core", "psys"))
    assert sorted(d.label for d in asked.domains) == ["core-0", "psys-2"]


def test_nested_zone_layout_is_found(tmp_path):
    zone(tmp_path, "intel-rapl:0", "package-0", 0)
    zone(tmp_path / "intel-rapl:0", "intel-rapl:0:0", "dram", 0)
    assert sorted(d.label for d in discover_domains(tmp_path)) == ["dram-0", "package-0"]


def test_missing_tree_says_how_to_load_the_driver(tmp_path):
    with pytest.raises(MeterUnavailableError, match="modprobe intel_rapl_common") as info:
        RaplMeter(tmp_path / "no-such-dir")
    assert "estimate" in str(info.value)


def test_tree_without_rapl_zones_is_unavailable(tmp_path):
    (tmp_path / "dtpm").mkdir()
    with pytest.raises(MeterUnavailableError, match="no intel-rapl zones"):
        RaplMeter(tmp_path)


def test_asking_for_absent_domains_lists_those_present(tmp_path):
    zone(tmp_path, "intel-rapl:0", "package-0", 0)
    with pytest.raises(MeterUnavailableError, match=r"present: package"):
        RaplMeter(tmp_path, domains=("dram",))


def test_permission_denied_says_how_to_grant_access(tmp_path):
    # Tests run as root, whom chmod 000 does not stop; the injected reader fails the way the kernel
    # does for a non-root user on energy_uj since CVE-2020-8694 (name and range stay readable).
    zone(tmp_path, "intel-rapl:0", "package-0", 0)

    def kernel_like_reader(path: Path) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text()

    with pytest.raises(MeterPermissionError) as info:
        RaplMeter(tmp_path, reader=kernel_like_reader)
    message = str(info.value)
    assert f"sudo chmod o+r {tmp_path}/intel-rapl:*/energy_uj" in message
    assert 'SUBSYSTEM=="powercap"' in message and "udevadm trigger" in message
    assert "CVE-2020-8694" in message
    assert isinstance(info.value, MeterUnavailableError)  # callers catching "unavailable" see it too
    assert isinstance(info.value.__cause__, PermissionError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; covered by the injected reader")
def test_permission_denied_by_real_file_mode(tmp_path):
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (pkg / "energy_uj").chmod(0)
    with pytest.raises(MeterPermissionError, match="CVE-2020-8694"):
        RaplMeter(tmp_path)


def test_garbage_counter_is_unavailable_not_a_crash(tmp_path):
    zone(tmp_path, "intel-rapl:0", "package-0", 0)
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("not a number\n")
    with pytest.raises(MeterUnavailableError, match="dmesg"):
        RaplMeter(tmp_path)


@pytest.mark.rapl
def test_real_rapl_reads_plausible_cpu_power():
    import time

    from green_estimate.meters.probe import probe_rapl

    status = probe_rapl()
    if not status.available:
        pytest.skip(f"RAPL: {status.reason}")
    meter = RaplMeter()
    start = meter.read()
    time.sleep(0.5)
    end = meter.read()
    power_w = (end.energy_j - start.energy_j) / (end.time_s - start.time_s)
    assert 0.1 < power_w < 2000.0, f"{meter.device}: {power_w:.1f} W is not a CPU's draw"


def test_background_reader_keeps_wraps_of_a_long_window(tmp_path):
    import threading
    import time

    zone(tmp_path, "intel-rapl:0", "package-0", 0, max_uj=1000)
    # the counter as successive reads see it: two wraps happen between the caller's two reads
    values = iter([900, 200, 700, 100, 500])
    last = {"v": 900}
    lock = threading.Lock()

    def reader(path: Path) -> str:
        if path.name != "energy_uj":
            return path.read_text()
        with lock:
            last["v"] = next(values, last["v"])
            return str(last["v"])

    meter = RaplMeter(tmp_path, reader=reader, poll_s=0.01)
    deadline = time.monotonic() + 5
    while last["v"] != 500 and time.monotonic() < deadline:
        time.sleep(0.01)
    # 900→200 wraps (+301), 200→700 (+500), 700→100 wraps (+401), 100→500 (+400) = 1602 µJ;
    # reading only at the start and the end (900→500) would have seen 601 µJ
    assert meter.read().energy_j == pytest.approx(1602 / 1e6)
    meter.close()
    assert not meter._thread.is_alive()
