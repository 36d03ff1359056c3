"""What ``green-estimate calibrate`` does: check the options, then measure this device
(:func:`~green_estimate.calibration.calibrator.calibrate`) or fit measured runs
(:func:`~green_estimate.calibration.from_runs.calibrate_from_runs`).

Both runners are parameters, so tests can hand in their own; progress goes to ``on_progress``. The
calibrator itself refuses a precision or meter it cannot use, before it measures anything.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import UsageError

Progress = Callable[[int, int, str], None]


def calibrate(*, gpu: int | None = None, cpu: bool = False, quick: bool = False, out: Path | None = None,
              resume: bool = False, watts: float | None = None, meter: str = "auto", name: str | None = None,
              precision: str = "fp32", from_runs: Path | None = None, prior: str | None = None,
              runs_map: Path | None = None, keep_contended: bool = False, max_minutes: float | None = None,
              on_progress: Progress | None = None,
              measure: Callable[..., Any] | None = None, fit_runs: Callable[..., Any] | None = None) -> Any:
    """Write a profile: of this device (``--cpu`` or ``--gpu N``), or fitted to measured runs (``from_runs``).

    Returns:
        The calibrator's ``CalibrationResult``, or ``from_runs``' result; both have ``to_dict()``.

    Raises:
        UsageError: options that do not go together (a device and ``from_runs``, neither device or both),
            or that the calibrator refuses (an unknown meter, tf32 on a CPU, ...).
    """
    if from_runs is not None:
        if (gpu is not None or cpu or quick or resume or watts is not None or precision != "fp32"
                or max_minutes is not None):
            raise UsageError("--from-runs fits measured runs: it takes no "
                             "--gpu/--cpu/--quick/--resume/--watts/--precision/--max-minutes")
        if fit_runs is None:
            from green_estimate.calibration.from_runs import calibrate_from_runs as fit_runs
        return fit_runs(from_runs, prior=prior, mapping=runs_map, out=out, name=name, keep_contended=keep_contended,
                        on_progress=on_progress)
    if prior is not None or runs_map is not None or keep_contended:
        raise UsageError("--prior, --runs-map and --keep-contended go with --from-runs RUNS_FILE")
    if (gpu is None) == (not cpu):
        raise UsageError("choose one device: --cpu, or --gpu N (e.g. --gpu 0)")
    if measure is None:
        from green_estimate.calibration.calibrator import calibrate as measure
    return measure(gpu=gpu, quick=quick, out=out, resume=resume, watts=watts, meter_kind=meter, name=name,
                   on_progress=on_progress, precision=precision, max_minutes=max_minutes)
