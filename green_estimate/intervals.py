"""Prediction intervals local to a model's make-up, from calibration's leave-one-family-out errors.

Calibration predicts every network of one architecture family with models fitted without that
family (see :mod:`~green_estimate.calibration.step_fit`) and keeps, per network, the absolute log
error of its step time and energy and the network's *make-up*: the share of its step's op time
in each layer class, plus the share in fused regions (recurrent layers, attention). One quantile of
all those errors would give a CNN the width an embedding bag needed. So a prediction's interval
half-width (in log) is the weighted ``c``-quantile of the errors of networks made up like it: each
network weighs ``exp(-(d / h)²)``, ``d`` the L1 distance between the two make-ups (0 to 2) and
``h`` the bandwidth, widened until the weights count as ``min_effective_n`` networks (Kish's
effective sample size) — so a model unlike any calibration network gets the quantile of them all.

The profile stores how often such intervals covered networks of a family left out of the errors
too (``coverage_unseen_family``): each network's interval taken from the *other* families' errors.

**Scaled by reference architectures** (split conformal prediction). The random networks are not
the models people write, and their errors with a family left out need not be the errors of a
standard model: on a 2-vCPU EPYC the full profile's 90 % intervals held every one of 15 such
models in four runs of four (docs/performance.md). So calibration also measures standard models it
never fits (:mod:`~green_estimate.calibration.references`), and the half-width at confidence ``c``
is the local one × ``s_c``: with ``r_j`` each reference's error over its own local half-width,
``s_c`` is the ⌈(n+1)·c⌉-th smallest of the ``n`` ratios — the smallest scale that holds that many
of them (the largest ratio where ⌈(n+1)·c⌉ > n). If a user's model and the references are alike
(exchangeable), such an interval holds it with probability at least ``c`` — with 19 references at
``c`` = 0.9, at least 18/20 and under 19/20. A profile without references is not scaled.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

FUSED = "fused"
MIN_REFERENCES = 5  # fewer reference architectures than this scale nothing
BANDWIDTH = 0.5
MIN_EFFECTIVE_N = 30


def make_up(class_times_s: dict[str, float], fused_time_s: float, kinds: Sequence[str]) -> list[float]:
    """Shares of ``kinds`` (layer classes, and :data:`FUSED`) in the op time of one step."""
    times = {**class_times_s, FUSED: fused_time_s}
    total = sum(max(times.get(k, 0.0), 0.0) for k in kinds if k != FUSED) or 1.0
    return [max(times.get(k, 0.0), 0.0) / total for k in kinds]


def _weights(shares: list[list[float]], at: Sequence[float], bandwidth: float, min_n: float) -> list[float]:
    d = [sum(abs(a - b) for a, b in zip(s, at)) for s in shares]
    h = bandwidth
    while True:
        w = [math.exp(-((x / h) ** 2)) for x in d]
        sw, sw2 = sum(w), sum(x * x for x in w)
        if sw2 > 0 and sw * sw / sw2 >= min(min_n, len(w)) or h > 8:
            return w
        h *= 1.5


def weighted_quantile(errors: Sequence[float], weights: Sequence[float], level: float) -> float:
    """The smallest error whose cumulative weight reaches ``level`` of the total (the largest past it)."""
    pairs = sorted(zip(errors, weights))
    total = sum(w for _, w in pairs)
    if not pairs or total <= 0:
        return float("inf")
    acc = 0.0
    for e, w in pairs:
        acc += w
        if acc >= level * total * (1 - 1e-12):
            return e
    return pairs[-1][0]


def local_halfwidth(local: dict, target: str, level: float, at: Sequence[float],
                    exclude_family: str | None = None) -> float:
    """The interval half-width (log) at make-up ``at`` from a profile's ``interval.local`` block."""
    keep = [i for i, f in enumerate(local["family"]) if f != exclude_family]
    shares = [local["shares"][i] for i in keep]
    w = _weights(shares, at, local["bandwidth"], local["min_effective_n"])
    return weighted_quantile([local[target][i] for i in keep], w, level)


def local_block(kinds: list[str], shares: list[list[float]], families: list[str], errors: dict[str, list[float]],
                levels: Sequence[float]) -> dict[str, Any]:
    """The ``interval.local`` block of a profile, with its coverage on families left out."""
    local: dict[str, Any] = {"kinds": kinds, "bandwidth": BANDWIDTH, "min_effective_n": MIN_EFFECTIVE_N,
                             "family": families, "shares": [[round(x, 4) for x in s] for s in shares],
                             **{t: [round(e, 5) for e in errs] for t, errs in errors.items()}}
    cover: dict[str, dict[str, float]] = {}
    for target in errors:
        cover[target] = {}
        for level in levels:
            inside = [local[target][i] <= local_halfwidth(local, target, level, local["shares"][i], families[i])
                      for i in range(len(families))]
            cover[target][str(level)] = sum(inside) / len(inside) if inside else float("nan")
    local["coverage_unseen_family"] = cover
    return local


def _ratios(local: dict, reference: dict, target: str, level: float) -> list[float]:
    """Each reference's error over its own local half-width at ``level``, smallest first."""
    errs, shares = reference.get(target) or [], reference.get("shares") or []
    return sorted(e / max(local_halfwidth(local, target, level, at), 1e-9) for e, at in zip(errs, shares))


def _scale_of(ratios: list[float], level: float) -> float | None:
    """The ⌈(n+1)·level⌉-th smallest ratio (the largest past n); ``None`` below :data:`MIN_REFERENCES`."""
    if len(ratios) < MIN_REFERENCES:
        return None
    return ratios[min(math.ceil((len(ratios) + 1) * level), len(ratios)) - 1]


def conformal_scale(local: dict, reference: dict, target: str, level: float) -> float | None:
    """The factor of the local half-width at ``level`` from the reference architectures' errors
    (``None`` with fewer than :data:`MIN_REFERENCES`)."""
    return _scale_of(_ratios(local, reference, target, level), level)


def reference_block(local: dict, names: list[str], shares: list[list[float]], errors: dict[str, list[float]],
                    seen: dict[str, list[float]], levels: Sequence[float]) -> dict[str, Any]:
    """The ``interval.reference`` block: the reference architectures' errors and make-ups, what the
    local intervals alone would have held of them, and the conformal scale at ``levels``."""
    ref: dict[str, Any] = {"names": names, "shares": [[round(x, 4) for x in s] for s in shares],
                           **{t: [round(e, 5) for e in errs] for t, errs in errors.items()},
                           "predicted_time_s": [float(f"{x:.6g}") for x in seen["predicted_time_s"]],
                           "measured_time_s": [float(f"{x:.6g}") for x in seen["time_s"]]}
    ref["median_ape"] = {t: statistics.median(math.exp(e) - 1 for e in errs) for t, errs in errors.items() if errs}
    ref["within_15pct"] = {t: sum(math.exp(e) - 1 <= 0.15 for e in errs) / len(errs) for t, errs in errors.items() if errs}
    ratios = {(t, lv): _ratios(local, ref, t, lv) for t in errors for lv in levels}  # each half-width once
    ref["local_coverage"] = {t: {str(lv): sum(r <= 1 for r in ratios[t, lv]) / len(errs) for lv in levels}
                             for t, errs in errors.items() if errs}
    ref["scale"] = {t: {str(lv): _scale_of(ratios[t, lv], lv) for lv in levels} for t in errors}
    return ref
