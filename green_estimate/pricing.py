"""Pricing a counted step with a profile: energy and time per class, and the intervals around them.

A step's cost is priced class by class with the profile's class models. The interval of a class
combines (a) the coefficient uncertainty, ``(Σx)ᵀ·cov·(Σx)`` — shared by every op of the class, so
it adds linearly, not in quadrature — and (b) the residual spread of the calibration fit, treated
as *systematic* within a class (``resid_rel_sd × class total``) because a misfit repeats for every
op of the same kind. Classes are fitted independently, so their variances add. The interval is
log-normal (it never goes below zero and always brackets the point). A calibrated profile's interval
comes instead from its whole-step errors on unseen families (:meth:`StepModel.abs_log_err`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from green_estimate.counting.report import CostReport, OpRecord
from green_estimate.profile import Profile


@dataclass
class ClassPrice:
    energy_j: float
    energy_var: float
    time_s: float
    time_var: float
    priced_as: str
    flops: int = 0
    nbytes: int = 0
    ops: int = 0
    fused_time_s: float = 0.0  # of time_s, the ops of fused regions (recurrent layers, attention)


def _price(ops: list[OpRecord], profile: Profile, cls: str, target: str, terms_seq: list[str | None]
           ) -> tuple[list[tuple[float, float, float]], str]:
    """Mean, coefficient variance and residual variance of one class's ops under its class model, for
    each ``terms`` of ``terms_seq`` (some of its terms, see
    :func:`~green_estimate.counting.regions.scale_parts`), and the class that priced them."""
    model, used = profile.model_for(cls, target)
    return [(mean, coef_var, (model.resid_rel_sd * mean) ** 2) for mean, coef_var in model.price_terms(ops, terms_seq)], used


def _price_class(cls: str, ops: list[OpRecord], profile: Profile) -> ClassPrice:
    """One class's ops, each scale group's scaled by the step model's in-step factor (1 without one)."""
    from green_estimate.counting.regions import scale_parts

    step = profile.step
    price = ClassPrice(0.0, 0.0, 0.0, 0.0, cls, sum(o.flops for o in ops), sum(o.nbytes for o in ops), len(ops))
    # ops of fused regions (attention, RNNs) have in-step scales of their own
    for part, groups in scale_parts(ops, split_by_class=step.split_by_class if step else True):
        terms_seq = [terms for _, terms in groups]
        energy, used = _price(part, profile, cls, "energy_j", terms_seq)
        time, _ = _price(part, profile, cls, "time_s", terms_seq)
        for (group, _), (e, ecv, erv), (t, tcv, trv) in zip(groups, energy, time):
            k = step.scale(group) if step else 1.0
            if step:  # the step's interval comes from whole-step cross-validation, not per-class residuals
                erv = trv = 0.0
            price.energy_j += k * e
            price.energy_var += k * k * (ecv + erv)
            price.time_s += k * t
            price.time_var += k * k * (tcv + trv)
            if group != "op":
                price.fused_time_s += k * t
        price.priced_as = used
    return price


def price_step(report: CostReport, profile: Profile) -> dict[str, ClassPrice]:
    """Energy and time of one counted step, per class, with coefficient variances.

    A calibrated profile (with a :class:`~green_estimate.price_models.StepModel`) prices each class's ops
    with its in-context op model, scales them by the step model's op-time factor (ops of fused regions
    by their own), and adds the harness between ops as class ``overhead``. A datasheet profile prices
    the classes alone; a profile fitted to runs reprices the prior's classes (green_estimate/runs/model.py).
    """
    groups: dict[str, list[OpRecord]] = {}
    for op in report.ops:
        groups.setdefault(op.cls, []).append(op)
    out = {cls: _price_class(cls, ops, profile) for cls, ops in groups.items()}
    if profile.step:
        h = profile.step.harness(report.dispatches, report.param_tensors, report.ops)
        out["overhead"] = ClassPrice(h.energy_j, 0.0, h.time_s, 0.0, "overhead")
    if profile.runs_model:
        from green_estimate.runs.model import apply_runs_model

        out = apply_runs_model(out, report, profile.runs_model)
    return out


def phase_time_s(report: CostReport, profile: Profile, phases: tuple[str, ...]) -> float:
    """Time of the ops of ``phases`` alone (the work between ops, class ``overhead``, left out)."""
    part = dataclasses.replace(report, ops=[o for o in report.ops if o.phase in phases], ignored_ops={})
    return sum(p.time_s for c, p in price_step(part, profile).items() if c != "overhead")


def interval_log_halfwidth(profile: Profile, target: str, confidence: float,
                           classes: dict[str, ClassPrice] | None = None) -> float | None:
    """The half-width (in log) of the interval from the profile's leave-one-family-out errors.

    With the step's ``classes`` and a profile that stores its errors by make-up, the errors of
    calibration networks made up like this step (see :mod:`green_estimate.intervals`).
    """
    if profile.runs_model:
        from green_estimate.runs.model import log_halfwidth

        return log_halfwidth(profile.runs_model, target, confidence) + profile.transfer_log_error
    step = profile.step
    if not step:
        return None
    local = step.interval.get("local")
    if local and classes is not None:
        from green_estimate.intervals import local_halfwidth, make_up

        ops = {k: c for k, c in classes.items() if c.ops}  # layer classes, not overhead or communication
        at = make_up({k: c.time_s for k, c in ops.items()}, sum(c.fused_time_s for c in ops.values()), local["kinds"])
        q = local_halfwidth(local, target, confidence, at) * step.applied_scale(target, confidence, profile.transfer is not None)
    else:
        from green_estimate.calibration.step_fit import quantile

        q = quantile(step.abs_log_err(target), confidence)
    return q + profile.transfer_log_error


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def lognormal_interval(mean: float, var: float, confidence: float) -> tuple[float, float]:
    """A positive interval around ``mean`` with relative spread ``sqrt(var)/mean``."""
    if mean <= 0:
        return (0.0, 0.0)
    r = math.sqrt(max(var, 0.0)) / mean
    s = math.sqrt(math.log1p(r * r))
    z = _z(confidence)
    return (mean * math.exp(-z * s), mean * math.exp(z * s))
