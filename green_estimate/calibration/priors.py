"""Coefficients a calibration borrows for op sizes it never ran enough of (see fit.PRIOR_FEATURES).

A quick CPU calibration runs too few networks with ops past a large cache to fit what those bytes
cost; the shipped CPU profile's full calibration ran them in more than a dozen. Its coefficient of
each prior feature, per GEMM-like class, is carried to this CPU the way a shipped profile is
(:mod:`green_estimate.transfer`): multiplied by the ratio of the two machines' probed bandwidth.
The profile records what it borrowed, from which profile and at which ratio (``borrowed``).
"""
from __future__ import annotations

from typing import Any, Mapping

from green_estimate.calibration.fit import FLOP_CLASSES, PRIOR_FEATURES


def borrowed_priors(source: Any, here_probe: Mapping[str, Any] | None,
                    precision: str = "fp32") -> tuple[dict[str, dict[str, float]], dict]:
    """Per GEMM-like class of ``source`` (a calibrated CPU :class:`~green_estimate.profile.Profile`),
    its coefficients of :data:`~green_estimate.calibration.fit.PRIOR_FEATURES`, rescaled to the CPU
    of ``here_probe``; and what to record of it. Nothing when either side has no probe (a ratio could
    not be measured), or ``source`` is not a CPU profile calibrated in context at ``precision``."""
    from green_estimate.device_probe import feature_ratio, ratios

    if (here_probe is None or source is None or source.probe is None or source.device.get("kind") != "cpu"
            or source.data.get("method") != "in-context" or source.precision != precision):
        return {}, {}
    r = ratios(source.probe, here_probe)
    priors: dict[str, dict[str, float]] = {}
    for cls, entry in source.data.get("classes", {}).items():
        if cls not in FLOP_CLASSES:
            continue
        model = entry.get("time_s", {})
        for f, c in zip(model.get("features", []), model.get("params", [])):
            if f in PRIOR_FEATURES and c > 0:
                priors.setdefault(cls, {})[f] = float(c) * feature_ratio(f, r, cls)
    return priors, {"from": source.name, "bandwidth_ratio": r["bytes"]}
