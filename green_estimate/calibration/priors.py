"""Coefficients a calibration borrows for op sizes it never ran enough of (see fit.PRIOR_FEATURES).

A quick CPU calibration runs too few networks with ops past a large cache to fit what those bytes
cost; the shipped CPU profile's full calibration ran them in more than a dozen. Its coefficient of
each prior feature, per GEMM-like class, is taken as it is where the shipped profile was made on
this CPU (same model and thread count), and otherwise carried the way a foreign profile is
(:mod:`green_estimate.transfer`): multiplied by the ratio of the two machines' probed memory
bandwidth — the copy past the last-level cache where both probes have it, else the 32 MiB copy.
Not on the CPU that made it: on the 2-vCPU EPYC VM that made the shipped profile, the 32 MiB copy,
at a 32 MiB cache's edge, read 44–96 GB/s in different calibrations, and a ratio of 0.52 would
have halved a rate that the VM's own full calibration fitted within 4% of the shipped one
(docs/performance.md, run CX).
The profile records what it borrowed, from which profile and at which ratio (``borrowed``).
"""
from __future__ import annotations

from typing import Any, Mapping

from green_estimate.calibration.fit import FLOP_CLASSES, PRIOR_FEATURES


def bandwidth_ratio(made: Mapping[str, Any], here: Mapping[str, Any]) -> tuple[float, str]:
    """The time multiplier of a bytes coefficient from the probe ``made`` to the probe ``here``, and
    what it rests on: ``same CPU`` (1), ``memory copy`` (the copies past the last-level cache) or
    ``32 MiB copy`` (a probe from before that copy)."""
    from green_estimate.device_probe import ratios
    from green_estimate.fingerprint import same_cpu

    if made.get("fingerprint") and here.get("fingerprint") and same_cpu(made["fingerprint"], here["fingerprint"]):
        return 1.0, "same CPU"
    if made.get("dram_bandwidth_bytes_per_s") and here.get("dram_bandwidth_bytes_per_s"):
        return made["dram_bandwidth_bytes_per_s"] / here["dram_bandwidth_bytes_per_s"], "memory copy"
    return ratios(made, here)["bytes"], "32 MiB copy"


def borrowed_priors(source: Any, here_probe: Mapping[str, Any] | None,
                    precision: str = "fp32") -> tuple[dict[str, dict[str, float]], dict]:
    """Per GEMM-like class of ``source`` (a calibrated CPU :class:`~green_estimate.profile.Profile`),
    its coefficients of :data:`~green_estimate.calibration.fit.PRIOR_FEATURES`, carried to the CPU
    of ``here_probe`` (:func:`bandwidth_ratio`); and what to record of it. Nothing when either side
    has no probe, or ``source`` is not a CPU profile calibrated in context at ``precision``."""
    if (here_probe is None or source is None or source.probe is None or source.device.get("kind") != "cpu"
            or source.data.get("method") != "in-context" or source.precision != precision):
        return {}, {}
    ratio, basis = bandwidth_ratio(source.probe, here_probe)
    priors: dict[str, dict[str, float]] = {}
    for cls, entry in source.data.get("classes", {}).items():
        if cls not in FLOP_CLASSES:
            continue
        model = entry.get("time_s", {})
        for f, c in zip(model.get("features", []), model.get("params", [])):
            if f in PRIOR_FEATURES and c > 0:
                priors.setdefault(cls, {})[f] = float(c) * ratio
    return priors, {"from": source.name, "ratio": ratio, "ratio_basis": basis}
