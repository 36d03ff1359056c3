"""Machine pace: the reference step's time now over its probed time, with fake clocks and steps."""
from __future__ import annotations

import math
import pickle

import pytest

import green_estimate.device_probe as device_probe
from green_estimate.pace import OFF_PACE, PACE_REFERENCE, PACE_WINDOWS, PaceProbe, ReferenceTimer, baseline_s, off_pace, pace_probe_for


def _probe(mlp_s: float | None, fingerprint: dict | None = None) -> dict:
    refs = [{"family": "cnn", "seed": 1, "batch": 32, "optimizer": "adam", "time_s": 0.07}]
    if mlp_s is not None:
        family, seed, batch, optimizer = PACE_REFERENCE
        refs.append({"family": family, "seed": seed, "batch": batch, "optimizer": optimizer, "time_s": mlp_s})
    return {"reference_steps": refs, "fingerprint": fingerprint or {}}


def test_baseline_is_the_probes_mlp_reference_step():
    assert PACE_REFERENCE == ("mlp", 3, 64, "adam")
    assert baseline_s(_probe(0.0008)) == 0.0008
    assert baseline_s(_probe(None)) is None        # an older probe without it
    assert baseline_s(_probe(0.0)) is None
    assert baseline_s(None) is None


def test_off_pace_either_way_beyond_the_limit():
    assert OFF_PACE == 1.25
    assert [off_pace(p) for p in (1.0, 1.24, 1.26, 0.81, 0.79, None)] == [False, False, True, False, True, False]
    assert off_pace(1.4, limit=1.5) is False


class _Clock:
    """A clock that only moves when the fake step runs."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_pace_is_step_time_over_baseline_median_of_windows():
    clock = _Clock()
    # the warm step, then window 1 at 2 ms a step, window 2 at 10 ms (a planted slow moment), window 3 at 2 ms
    durations = iter([0.5] + [0.002] * 10 + [0.010] * 2 + [0.002] * 10)
    calls = []

    def step() -> None:
        calls.append(1)
        clock.t += next(durations)

    probe = PaceProbe(0.001, step, budget_s=0.06, clock=clock)   # windows of 20 ms
    assert probe() == pytest.approx(2.0)      # median window 2 ms over a 1 ms baseline; the warm step not counted
    assert len(calls) == 1 + 10 + 2 + 10
    assert PACE_WINDOWS == 3


def test_a_step_longer_than_the_window_still_counts_once():
    clock = _Clock()

    def step() -> None:
        clock.t += 0.5

    assert PaceProbe(0.25, step, budget_s=0.03, clock=clock)() == pytest.approx(2.0)
    assert ReferenceTimer(step, budget_s=0.03, clock=clock)() == pytest.approx(0.5)  # the bare seconds per step


def test_pickles_without_its_built_step():
    probe = PaceProbe(0.001, lambda: None)
    again = pickle.loads(pickle.dumps(probe))
    assert again.timer._step is None and again.baseline_s == 0.001
    with pytest.raises(ValueError, match="positive"):
        PaceProbe(0.0)


def test_the_real_reference_step_gives_a_finite_pace():
    probe = PaceProbe(0.001, budget_s=0.03)
    pace = probe()
    assert math.isfinite(pace) and pace > 0 and probe.timer._step is not None


class _Prof:
    def __init__(self, probe, pace: dict | None = None):
        self.probe = probe
        self.data = {"probe": probe, **({"pace": pace} if pace else {})}


def test_probe_for_a_profile_made_here_uses_its_own_baseline(monkeypatch):
    here = {"cpu_model": "Test CPU", "threads": 2, "cpu_id": "x86 6/85/7", "isa": "AVX2"}
    monkeypatch.setattr("green_estimate.fingerprint.cpu_fingerprint", lambda: dict(here))
    monkeypatch.setattr(device_probe, "probe_here", lambda: pytest.fail("a profile made here needs no probe"))
    probe = pace_probe_for(_Prof(_probe(0.0009, here)), "cpu")
    assert isinstance(probe, PaceProbe) and probe.baseline_s == 0.0009
    assert pace_probe_for(_Prof(_probe(0.0009, here)), "cuda:0") is None   # a CPU step says nothing of a GPU


def test_probe_for_a_foreign_or_probeless_profile_uses_this_cpus_probe(monkeypatch):
    here = {"cpu_model": "Test CPU", "threads": 2}
    monkeypatch.setattr("green_estimate.fingerprint.cpu_fingerprint", lambda: dict(here))
    monkeypatch.setattr(device_probe, "probe_here", lambda: _probe(0.0012, here))
    other = {"cpu_model": "Other CPU", "threads": 8}
    assert pace_probe_for(_Prof(_probe(0.0005, other)), "cpu").baseline_s == 0.0012
    assert pace_probe_for(_Prof(None), "cpu").baseline_s == 0.0012
    monkeypatch.setattr(device_probe, "probe_here", lambda: _probe(None, here))
    assert pace_probe_for(_Prof(None), "cpu") is None   # no probe holds the reference step


def test_a_profile_made_here_with_a_calibration_pace_uses_its_median(monkeypatch):
    here = {"cpu_model": "Test CPU", "threads": 2}
    monkeypatch.setattr("green_estimate.fingerprint.cpu_fingerprint", lambda: dict(here))
    monkeypatch.setattr(device_probe, "probe_here", lambda: _probe(0.0012, here))
    pace = {"reference": list(PACE_REFERENCE), "median_s": 0.0011, "low_s": 0.0009, "high_s": 0.0016, "networks": 41}
    assert pace_probe_for(_Prof(_probe(0.0009, here), pace), "cpu").baseline_s == 0.0011
    # another reference step's pace is not comparable: the probe's reference step instead
    other = {**pace, "reference": ["cnn", 1, 32, "adam"]}
    assert pace_probe_for(_Prof(_probe(0.0009, here), other), "cpu").baseline_s == 0.0009
    # made on another CPU: its calibration's pace says nothing of this one
    assert pace_probe_for(_Prof(_probe(0.0009, {"cpu_model": "Other", "threads": 2}), pace), "cpu").baseline_s == 0.0012
