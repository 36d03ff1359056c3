"""The library's ``calibrate``: which runner gets which options, and the combinations it refuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from green_estimate.calibration.session import calibrate
from green_estimate.errors import UsageError


def record(seen):
    def runner(*args, **kwargs):
        seen.append((args, kwargs))
        return "result"
    return runner


def test_a_device_goes_to_the_calibrator():
    seen: list = []
    assert calibrate(cpu=True, quick=True, meter="estimate", watts=7.0, precision="bf16", max_minutes=2.5,
                     measure=record(seen), fit_runs=record([])) == "result"
    assert seen == [((), {"gpu": None, "quick": True, "out": None, "resume": False, "watts": 7.0,
                          "meter_kind": "estimate", "name": None, "on_progress": None, "precision": "bf16",
                          "max_minutes": 2.5})]


def test_runs_go_to_the_runs_fit():
    seen: list = []
    calibrate(from_runs=Path("runs.csv"), prior="datasheet:gtx-1080", measure=record([]), fit_runs=record(seen))
    assert seen == [((Path("runs.csv"),), {"prior": "datasheet:gtx-1080", "mapping": None, "out": None, "name": None,
                                           "keep_contended": False, "on_progress": None})]


@pytest.mark.parametrize("options, message", [
    ({}, "choose one device"),
    ({"cpu": True, "gpu": 0}, "choose one device"),
    ({"cpu": True, "from_runs": Path("r.csv")}, "takes no --gpu/--cpu"),
    ({"from_runs": Path("r.csv"), "max_minutes": 5.0}, "takes no .*--max-minutes"),
    ({"cpu": True, "prior": "datasheet:a100"}, "go with --from-runs"),
])
def test_options_that_do_not_go_together(options, message):
    with pytest.raises(UsageError, match=message):
        calibrate(**options, measure=record([]), fit_runs=record([]))
