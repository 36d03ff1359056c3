"""Which profile prices ``validate``'s predictions: what a user of this machine would predict with.

A validation is worth something only if it checks the predictions a user would get. With no
``--profile`` and no profile calibrated on this device, that user would first run
``calibrate --quick`` (the README says so), so ``validate`` does the same and says so; the
profile is written to the user's profile directory, where ``predict`` then finds it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from green_estimate.profile import Profile


@dataclass
class ProfileChoice:
    """The profile chosen, and the calibration run for it (``None`` when none was needed)."""

    profile: Profile
    calibration: Any = None  # calibration.calibrator.CalibrationResult | None

    @property
    def calibrated_now(self) -> bool:
        return self.calibration is not None


def choose_profile(profile: str | None, device: str, *, calibrate: bool = True,
                   on_calibrating: Callable[[str], None] | None = None,
                   on_progress: Callable[[int, int, str], None] | None = None) -> ProfileChoice:
    """``profile`` when given; else this device's own profile; else a quick calibration of it
    (``calibrate=False``: the default profile, carried to this device as ``predict`` would).

    ``on_calibrating(command)`` is called just before a calibration starts, with the command it
    runs; ``on_progress`` follows the calibration.
    """
    from green_estimate.profile_store import local_profile_for, resolve_profile

    if profile is not None:
        return ProfileChoice(resolve_profile(profile, device))
    local = local_profile_for(device)
    if local is not None:
        return ProfileChoice(local)
    if not calibrate:
        return ProfileChoice(resolve_profile(None, device))
    from green_estimate.calibration.calibrator import calibrate as run_calibration
    from green_estimate.profile_store import read_profile

    gpu = int(device.split(":")[1]) if device.startswith("cuda") else None
    if on_calibrating is not None:
        on_calibrating(f"green-estimate calibrate {'--cpu' if gpu is None else f'--gpu {gpu}'} --quick")
    result = run_calibration(gpu=gpu, quick=True, on_progress=on_progress)
    return ProfileChoice(read_profile(result.profile_path, origin="local"), result)
