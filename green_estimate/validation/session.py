"""What ``green-estimate validate`` does: choose the device, the profile, the meter and the predictor,
then run the studies (:func:`~green_estimate.validation.runner.run_validation`).

Every collaborator is a parameter (the meter opener, the profile chooser, the study runner, the CUDA
probe), so tests wire in fakes exactly where production wires in the real ones; what happens along
the way (a calibration first, the meter chosen, each trial) is told to :class:`ValidationEvents`.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import UsageError


class ValidationEvents:
    """What a validation tells its caller as it goes (the CLI shows it; the defaults ignore it)."""

    def calibrating(self, command: str) -> None:
        """No profile for this device: ``command`` runs first."""

    def calibration_progress(self, done: int, total: int, case: str) -> None:
        """A calibration network measured."""

    def calibrated(self, result: Any) -> None:
        """The calibration finished (a :class:`~green_estimate.calibration.calibrator.CalibrationResult`)."""

    def meter_chosen(self, meter: Any) -> None:
        """The meter every trial is measured with."""

    def trial(self, done: int, total: int, message: str) -> None:
        """A trial finished."""


def choose_device(gpu: int | None, cpu: bool, cuda_available: Callable[[], bool] | None = None) -> tuple[str, int | None]:
    """``cuda:N`` and N for ``--gpu N``, ``cpu`` for ``--cpu``; neither: GPU 0 when CUDA has one."""
    if gpu is not None and cpu:
        raise UsageError("--gpu and --cpu exclude each other: give one of them (or neither to use GPU 0 when present)")
    if gpu is not None:
        return f"cuda:{gpu}", gpu
    if cpu:
        return "cpu", None
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available
    return ("cuda:0", 0) if cuda_available() else ("cpu", None)


def validate(preset: str, out: Path, *, gpu: int | None = None, cpu: bool = False, watts: float | None = None,
             profile: str | None = None, calibrate: bool = True, confidence: float = 0.9,
             events: ValidationEvents | None = None, open_meter: Callable[..., Any] | None = None,
             choose_profile: Callable[..., Any] | None = None, run: Callable[..., Any] | None = None,
             cuda_available: Callable[[], bool] | None = None, **options: Any) -> Any:
    """Run (or resume) the measured tuning studies and return their report (``validation@1``).

    Args:
        preset, out, options: :func:`~green_estimate.validation.config.preset_config`'s preset, output
            folder and settings (trials, epochs, strategies, storage, workers, ...).
        gpu, cpu, watts: the device the trials train on and the meter's stated watts (see :func:`choose_device`).
        profile, calibrate: the profile pricing the predictions (see
            :func:`~green_estimate.validation.profile_choice.choose_profile`).
        confidence: of the prediction intervals.
        events: told what happens (calibration, meter, trials).
        open_meter, choose_profile, run, cuda_available: the collaborators; default
            :func:`~green_estimate.meters.probe.best_meter`, ``choose_profile``, ``run_validation``, CUDA.
    """
    from green_estimate.profile_store import profile_identity
    from green_estimate.validation.config import preset_config

    events = events or ValidationEvents()
    device, gpu_index = choose_device(gpu, cpu, cuda_available)
    config = preset_config(preset, out, device=device, **options)
    # chosen once (a bad --profile fails before any trial), for the device the trials train on
    prof = _profile(choose_profile, profile, device, calibrate, events)
    config = dataclasses.replace(config, predictor=f"{prof.name}@{confidence:g}", profile=profile_identity(prof, device))
    _quiet_optuna()
    if open_meter is None:
        from green_estimate.meters.probe import best_meter as open_meter
    meter = open_meter(gpu_index=gpu_index, watts=watts)
    try:
        events.meter_chosen(meter)
        from green_estimate.predict import predict_model

        predict_fn = functools.partial(predict_model, profile=prof, confidence=confidence, device=device)
        # each worker process opens its own meter (picklable: a partial of a module function)
        factory = functools.partial(open_meter, gpu_index=gpu_index, watts=watts) if config.workers > 1 else None
        pace_fn = None
        if config.workers == 1:
            from green_estimate.pace import pace_probe_for

            pace_fn = pace_probe_for(prof, device)
        if run is None:
            from green_estimate.validation.runner import run_validation as run
        return run(config, meter=meter, predict_fn=predict_fn, progress=events.trial, meter_factory=factory,
                   pace_fn=pace_fn)
    finally:
        meter.close()


def _profile(choose: Callable[..., Any] | None, profile: str | None, device: str, calibrate: bool,
             events: ValidationEvents) -> Any:
    if choose is None:
        from green_estimate.validation.profile_choice import choose_profile as choose
    choice = choose(profile, device, calibrate=calibrate, on_calibrating=events.calibrating,
                    on_progress=events.calibration_progress)
    if choice.calibrated_now:
        events.calibrated(choice.calibration)
    return choice.profile


def _quiet_optuna() -> None:
    import optuna

    # Optuna logs every trial at INFO and a sampler notice at WARNING; the progress bar says it all.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
