"""The library's ``validate``: device choice, the collaborators it is handed, what it tells its caller."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from green_estimate.errors import UsageError
from green_estimate.pace import PaceProbe
from green_estimate.profile_store import resolve_profile
from green_estimate.validation.profile_choice import ProfileChoice
from green_estimate.validation.session import ValidationEvents, choose_device, validate
from tests.validation.conftest import TickMeter


def test_device_choice():
    assert choose_device(None, False, lambda: True) == ("cuda:0", 0)
    assert choose_device(None, False, lambda: False) == ("cpu", None)
    assert choose_device(2, False, lambda: False) == ("cuda:2", 2)
    assert choose_device(None, True, lambda: True) == ("cpu", None)
    with pytest.raises(UsageError, match="exclude each other"):
        choose_device(0, True)


class Recorder(ValidationEvents):
    def __init__(self) -> None:
        self.seen: list = []

    def calibrated(self, result):
        self.seen.append(("calibrated", result.profile_path))

    def meter_chosen(self, meter):
        self.seen.append(("meter", meter.name))


def test_collaborators_and_events(tmp_path):
    meter = TickMeter()
    closed = []
    meter.close = lambda: closed.append(True)
    calibration = SimpleNamespace(profile_path="new.json", elapsed_s=1.0)

    def choose(profile, device, *, calibrate, on_calibrating, on_progress):
        return ProfileChoice(resolve_profile("cpu-reference-2core"), calibration)

    def run(config, *, meter, predict_fn, progress, meter_factory, pace_fn):
        assert config.device == "cpu" and config.trials == 3 and meter_factory is None
        assert predict_fn.keywords["device"] == "cpu" and predict_fn.keywords["confidence"] == 0.8
        # one process on a CPU: the machine's pace is timed against a probe's reference step
        assert isinstance(pace_fn, PaceProbe) and pace_fn.baseline_s > 0
        raise KeyboardInterrupt  # the meter is closed whatever happens

    events = Recorder()
    with pytest.raises(KeyboardInterrupt):
        validate("quick", tmp_path, cpu=True, confidence=0.8, trials=3, events=events, open_meter=lambda **_: meter,
                 choose_profile=choose, run=run)
    assert events.seen == [("calibrated", "new.json"), ("meter", "tick")] and closed == [True]


def test_no_pace_with_several_workers_or_on_a_gpu(tmp_path):
    seen = []

    def choose(profile, device, *, calibrate, on_calibrating, on_progress):
        return ProfileChoice(resolve_profile("cpu-reference-2core"), None)

    def run(config, *, meter, predict_fn, progress, meter_factory, pace_fn):
        seen.append((config.device, config.workers, pace_fn))

    # several workers share the cores: each one's pace would be set by the others' load
    validate("quick", tmp_path / "a", cpu=True, trials=3, workers=2, open_meter=lambda **_: TickMeter(),
             choose_profile=choose, run=run)
    validate("quick", tmp_path / "b", gpu=0, trials=3, open_meter=lambda **_: TickMeter(), choose_profile=choose,
             run=run, cuda_available=lambda: True)
    assert seen == [("cpu", 2, None), ("cuda:0", 1, None)]
