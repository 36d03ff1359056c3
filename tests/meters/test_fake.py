"""FakeMeter and FakeClock: the deterministic meter tests and rehearsals use."""
from __future__ import annotations

import pytest

from green_estimate.errors import MeterUnavailableError
from green_estimate.meters.base import ESTIMATED, Meter, measure
from green_estimate.meters.fake import FakeClock, FakeMeter


def test_piecewise_power_integrates_exactly():
    clock = FakeClock()
    meter = FakeMeter(power_w=100.0, clock=clock)
    assert isinstance(meter, Meter)
    assert (meter.name, meter.provenance) == ("fake", ESTIMATED)
    clock.advance(2.0)
    meter.set_power_w(50.0)
    clock.advance(4.0)
    assert meter.read().energy_j == pytest.approx(100 * 2 + 50 * 4)  # 400 J
    assert meter.reads == 1


def test_measure_window_uses_the_fake():
    clock = FakeClock(7.0)
    meter = FakeMeter(power_w=30.0, clock=clock)
    with measure(meter) as window:
        clock.advance(0.25)
    assert (window.energy_j, window.time_s) == (pytest.approx(7.5), pytest.approx(0.25))


def test_closed_fake_refuses_to_read():
    meter = FakeMeter(clock=FakeClock())
    with meter:
        pass
    assert meter.closed
    with pytest.raises(MeterUnavailableError):
        meter.read()


def test_clock_is_monotonic_and_sleeps_by_advancing():
    clock = FakeClock(1.0)
    clock.sleep(2.0)
    assert clock() == 3.0
    with pytest.raises(ValueError):
        clock.advance(-1.0)
