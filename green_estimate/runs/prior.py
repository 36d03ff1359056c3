"""The prior of the runs model: its ten parameters' means and spreads, read from a profile.

A datasheet profile, a calibrated profile, or a profile already fitted to runs (whose posterior is
then the prior: runs add to runs). The table of priors is in docs/calibration.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from green_estimate.errors import ProfileError

#: Prior sd (log) of a datasheet profile's per-run error: "within a factor of about two" (docs/datasheet.md).
DATASHEET_SIGMA0 = 0.5
_HOST_PRIOR_SD = {  # (step_s, dispatch_s, spatial_op_s [s], input_s_per_byte [s/B]): half-normal scales at 0
    # up to a few ms of Python per step, ~20 µs per aten call, ~100 µs per cuDNN call, a 2 GB/s copy
    "gpu": (2e-3, 2e-5, 1e-4, 1 / 2e9),
    # the batch gather x[idx] streams memory at a few GB/s; spatial ops have no extra library call cost
    "cpu": (1e-3, 1e-5, 2e-5, 1 / 5e9),
}


@dataclass
class Prior:
    """Means and standard deviations of the ten parameters, and what they came from."""

    mean: dict[str, float]
    sd: dict[str, float]
    idle0_w: float
    sigma0: dict[str, float]
    profile: str
    provenance: str


def prior_from_profile(profile: Any) -> tuple[Any, Prior]:
    """The profile the runs model starts from (without a runs model of its own) and the parameters'
    prior. A profile already fitted to runs is a prior with its posterior: runs are added, not redone."""
    kind = profile.device.get("kind", "cpu")
    r = profile.runs_model
    if r is not None:
        base = profile.replaced(runs_model=None, name=r["prior"]["profile"])
        sd = {k: max(float(v), 1e-12) for k, v in r["param_sd"].items()}
        sigma0 = {t: float(r["interval"][t]["sigma_log"]) for t in ("energy_j", "time_s")}
        return base, Prior(dict(r["params"]), sd, float(r["prior"]["idle0_w"]), sigma0, profile.name,
                           profile.provenance)
    step = profile.step
    if profile.provenance == "datasheet":
        idle0 = profile.idle_power_w or 0.0
        wait0 = (profile.datasheet_wait_power_w if profile.datasheet_wait_power_w is not None else idle0) - idle0
        spec_range = None
        try:
            from green_estimate.datasheet import get_gpu

            spec_range = get_gpu(profile.datasheet_gpu).idle_power_w_range
        except Exception:  # noqa: BLE001 - a hand-made datasheet profile may lack its table entry
            pass
        idle_sd = math.log(spec_range[1] / idle0) / 1.645 if spec_range and idle0 > 0 and spec_range[1] > idle0 else 0.5
        scale_sd, sigma0 = math.log(2.0) / 1.645 * 1.5, {"energy_j": DATASHEET_SIGMA0, "time_s": DATASHEET_SIGMA0}
    elif step is not None:
        rest = float(step.rest_w)
        idle0 = profile.idle_power_w if profile.idle_power_w is not None else 0.5 * rest
        wait0 = max(rest - idle0, 0.05 * rest)
        idle_sd = 0.5
        from green_estimate.calibration.step_fit import quantile

        sigma0 = {t: max(quantile(step.abs_log_err(t), 0.9) / 1.645, 0.05) for t in ("energy_j", "time_s")}
        scale_sd = 0.25
    else:
        raise ProfileError(f"profile {profile.name} is neither a datasheet profile nor a calibrated one: "
                           "give --prior datasheet:<gpu> or a profile made by `green-estimate calibrate`")
    if idle0 <= 0 or wait0 <= 0:
        raise ProfileError(f"profile {profile.name} has no usable idle and active power to start from")
    step_sd, disp_sd, spatial_sd, in_sd = _HOST_PRIOR_SD["gpu" if kind == "gpu" else "cpu"]
    mean = {"scale_conv": 1.0, "scale_linear": 1.0, "scale_other": 1.0, "step_s": 0.0, "dispatch_s": 0.0,
            "spatial_op_s": 0.0, "input_s_per_byte": 0.0, "idle_w": idle0, "active_scale": 1.0, "wait_w": wait0}
    sd = {"scale_conv": scale_sd, "scale_linear": scale_sd, "scale_other": scale_sd, "step_s": step_sd,
          "dispatch_s": disp_sd, "spatial_op_s": spatial_sd, "input_s_per_byte": in_sd, "idle_w": idle_sd,
          "active_scale": 0.3, "wait_w": 0.7}
    return profile, Prior(mean, sd, idle0, sigma0, profile.name, profile.provenance)
