"""``validate``: real, measured tuning runs (grid, random, Bayesian) set beside predictions.

Each trial is priced by the predictor *before* it trains, then trained under an energy meter and
tested on held-out data; the report compares prediction and measurement and judges the four claims
of Yarally et al. (CAIN 2023) on these runs.

Example:
    >>> from green_estimate.validation import preset_config, run_validation
    >>> report = run_validation(preset_config("quick", "out"), meter=meter, predict_fn=predict_model)
"""
from __future__ import annotations

from green_estimate.validation.config import PRESETS, STRATEGIES, ValidationConfig, preset_config
from green_estimate.validation.runner import run_validation

__all__ = ["PRESETS", "STRATEGIES", "ValidationConfig", "preset_config", "run_validation"]
