"""``predict``: a model's training energy and time, before training, with intervals.

A step's cost is priced class by class with the profile's linear models. The interval of a class
combines (a) the coefficient uncertainty, ``(Σx)ᵀ·cov·(Σx)`` — shared by every op of the class, so
it adds linearly, not in quadrature — and (b) the residual spread of the calibration fit, treated
as *systematic* within a class (``resid_rel_sd × class total``) because a misfit repeats for every
op of the same kind. Classes are fitted independently, so their variances add. The interval is
log-normal (it never goes below zero and always brackets the point). The whole run repeats the same
step, so its interval is the step's interval × steps: run-to-run noise averages out, a model error
does not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from green_estimate.carbon import J_PER_KWH
from green_estimate.counting.report import REQUIRED_CLASSES, CostReport, OpRecord
from green_estimate.errors import UsageError
from green_estimate.profile import Profile, default_profile, load_profile


@dataclass(frozen=True)
class TrainingPlan:
    """How much training: steps = ceil(samples / batch) × epochs, or ``steps`` directly."""

    batch_size: int = 64
    epochs: int = 1
    samples: int | None = None
    steps_given: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs}: must be at least 1")
        if self.samples is not None and self.samples < 1:
            raise UsageError(f"--samples {self.samples}: must be at least 1 (the training-set size)")
        if self.steps_given is not None and self.steps_given < 1:
            raise UsageError(f"--steps {self.steps_given}: must be at least 1")

    @property
    def steps(self) -> int:
        if self.steps_given is not None:
            return self.steps_given
        if self.samples is None:
            return self.epochs  # one step per epoch: no dataset size was given
        return math.ceil(self.samples / self.batch_size) * self.epochs  # a DataLoader without drop_last

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "epochs": self.epochs, "samples": self.samples, "steps": self.steps}


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


def _price(ops: list[OpRecord], profile: Profile, cls: str, target: str) -> tuple[float, float, float, str]:
    """Mean, coefficient variance and residual variance of one class's ops under its class model."""
    model, used = profile.model_for(cls, target)
    mean, coef_var = model.price(ops)
    return mean, coef_var, (model.resid_rel_sd * mean) ** 2, used


def price_step(report: CostReport, profile: Profile) -> dict[str, ClassPrice]:
    """Energy and time of one counted step, per class, with coefficient variances.

    A calibrated profile (``step_model`` of form ``incontext@1``) prices each class's ops with its
    in-context op model, scales them by the step model's op-time factor (ops of fused regions by
    their own), and adds the work between ops as class ``overhead``. A datasheet profile prices the
    classes alone.
    """
    from green_estimate.counting.regions import SCALE_GROUPS, scale_group

    step = profile.data.get("step_model")
    scales = dict(zip(SCALE_GROUPS, step["time_s"]["params"] if step else [1.0] * len(SCALE_GROUPS)))
    groups: dict[str, list[OpRecord]] = {}
    for op in report.ops:
        groups.setdefault(op.cls, []).append(op)
    out: dict[str, ClassPrice] = {}
    for cls, ops in groups.items():
        price = ClassPrice(0.0, 0.0, 0.0, 0.0, cls, sum(o.flops for o in ops), sum(o.nbytes for o in ops), len(ops))
        for group in SCALE_GROUPS:  # ops of fused regions (attention, RNNs) have in-step scales of their own
            part = [o for o in ops if scale_group(o) == group]
            if not part:
                continue
            k = scales[group]
            e, ecv, erv, used = _price(part, profile, cls, "energy_j")
            t, tcv, trv, _ = _price(part, profile, cls, "time_s")
            if step:  # the step's interval comes from whole-step cross-validation, not per-class residuals
                erv = trv = 0.0
            price.energy_j += k * e
            price.energy_var += k * k * (ecv + erv)
            price.time_s += k * t
            price.time_var += k * k * (tcv + trv)
            price.priced_as = used
        out[cls] = price
    if step:
        b, c, d = step["time_s"]["params"][len(SCALE_GROUPS):]
        t = b + c * report.dispatches + d * report.param_tensors
        out["overhead"] = ClassPrice(step["power_w"]["rest_w"] * t, 0.0, t, 0.0, "overhead")
    runs = profile.data.get("runs_model")
    if runs:  # fitted to measured runs: the prior's classes repriced (green_estimate/runs/model.py)
        from green_estimate.runs.model import apply_runs_model

        out = apply_runs_model(out, report, runs)
    return out


def interval_log_halfwidth(profile: Profile, target: str, confidence: float) -> float | None:
    """The half-width (in log) of the interval from the profile's leave-one-family-out errors."""
    runs = profile.data.get("runs_model")
    if runs:
        from green_estimate.runs.model import log_halfwidth

        return log_halfwidth(runs, target, confidence) + float(profile.data.get("transfer", {}).get("log_error", 0.0))
    step = profile.data.get("step_model")
    if not step:
        return None
    from green_estimate.calibration.step_fit import quantile

    q = quantile(step["interval"][target]["abs_log_err"], confidence)
    return q + float(profile.data.get("transfer", {}).get("log_error", 0.0))


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


@dataclass
class Prediction:
    """Energy, time and CO2e of a training run, per step and in total, with intervals."""

    model: str
    profile: Profile
    plan: TrainingPlan
    confidence: float
    classes: dict[str, ClassPrice]
    report: CostReport
    carbon: Any = None  # carbon.CarbonIntensity | None
    notes: list[str] = field(default_factory=list)

    def _interval(self, target: str, mean: float, var: float) -> tuple[float, float]:
        q = interval_log_halfwidth(self.profile, target, self.confidence)
        if q is None or mean <= 0:
            return lognormal_interval(mean, var, self.confidence)
        return (mean * math.exp(-q), mean * math.exp(q))

    @property
    def energy_j(self) -> float:
        return sum(c.energy_j for c in self.classes.values())

    @property
    def time_s(self) -> float:
        return sum(c.time_s for c in self.classes.values())

    def energy_interval(self) -> tuple[float, float]:
        return self._interval("energy_j", self.energy_j, sum(c.energy_var for c in self.classes.values()))

    def time_interval(self) -> tuple[float, float]:
        return self._interval("time_s", self.time_s, sum(c.time_var for c in self.classes.values()))

    def interval_basis(self) -> dict:
        """Where the interval's width comes from, and how often such intervals covered unseen models."""
        step = self.profile.data.get("step_model")
        transfer = self.profile.data.get("transfer")
        runs = self.profile.data.get("runs_model")
        if runs:
            iv = runs["interval"]
            return {"method": "runs: " + iv["energy_j"]["method"], "configurations": iv["energy_j"]["configurations"],
                    "sigma_log": {t: iv[t]["sigma_log"] for t in ("energy_j", "time_s")},
                    "df": {t: iv[t]["df"] for t in ("energy_j", "time_s")},
                    "coverage_unseen_family": None, "runs_source": runs["source"], "transfer": transfer}
        if not step:
            return {"method": "coefficient covariance and calibration residuals", "coverage_unseen_family": None,
                    "transfer": transfer}
        iv = step["interval"]
        cover = iv["time_s"]["coverage_unseen_family"]
        key = min(cover, key=lambda k: abs(float(k) - self.confidence)) if cover else None
        return {"method": iv["method"], "families": iv["families"], "networks": iv["n"],
                "coverage_unseen_family": None if key is None else {"confidence": float(key), "time_s": cover[key],
                                                                    "energy_j": iv["energy_j"]["coverage_unseen_family"][key]},
                "transfer": transfer}

    def to_dict(self) -> dict:
        """The ``green-estimate/prediction@1`` JSON document."""
        steps = self.plan.steps
        e, t = self.energy_j, self.time_s
        ei, ti = self.energy_interval(), self.time_interval()
        total_e = e * steps
        co2 = None
        if self.carbon is not None:
            from green_estimate.carbon import co2e_g

            co2 = co2e_g(total_e, self.carbon)
        by_class = {
            c: {"energy_j_per_step": p.energy_j, "share": (p.energy_j / e) if e > 0 else 0.0,
                "time_s_per_step": p.time_s, "flops": p.flops, "bytes": p.nbytes, "ops": p.ops, "priced_as": p.priced_as}
            for c, p in sorted(self.classes.items(), key=lambda kv: -kv[1].energy_j)
        }
        for c in REQUIRED_CLASSES:  # the study's three classes are always there, zero when absent
            by_class.setdefault(c, {"energy_j_per_step": 0.0, "share": 0.0, "time_s_per_step": 0.0, "flops": 0,
                                    "bytes": 0, "ops": 0, "priced_as": c})
        prof = self.profile
        return {
            "schema": "green-estimate/prediction@1",
            "model": self.model,
            "profile": {**prof.summary(), "energy_basis": prof.data.get("energy_basis", "total")},
            "plan": self.plan.to_dict(),
            "confidence": self.confidence,
            "per_step": {"energy_j": e, "energy_j_interval": list(ei), "time_s": t, "time_s_interval": list(ti)},
            "total": {
                "energy_j": total_e, "energy_j_interval": [ei[0] * steps, ei[1] * steps],
                "energy_kwh": total_e / J_PER_KWH,
                "energy_kwh_interval": [ei[0] * steps / J_PER_KWH, ei[1] * steps / J_PER_KWH],
                "time_s": t * steps, "time_s_interval": [ti[0] * steps, ti[1] * steps],
                "co2e_g": co2,
                "co2e_g_interval": None if co2 is None else [co2 * ei[0] / e, co2 * ei[1] / e] if e > 0 else [0.0, 0.0],
            },
            "grid_intensity": None if self.carbon is None else self.carbon.to_dict(),
            "by_class": by_class,
            "step": {"flops": self.report.totals().flops, "bytes": self.report.totals().bytes,
                     "ops": self.report.totals().ops, "parameters": self.report.parameters,
                     "optimizer": self.report.optimizer, "loss": self.report.loss},
            "uncounted_ops": self.report.uncounted_ops(),
            "interval": self.interval_basis(),
            "notes": self.notes,
        }


def resolve_profile(profile: str | Profile | None, device: str | None = None) -> Profile:
    """A profile object from a name, path or object; ``None`` picks :func:`default_profile`."""
    if isinstance(profile, Profile):
        return profile
    if profile is None:
        return default_profile(device)
    return load_profile(profile)


def profile_identity(prof: Profile, device: str | None = None) -> dict:
    """Which profile prices predictions for ``device`` (``cpu``/``cuda:N``), and whether it was made there.

    Returns ``{name, device, provenance, origin, other_device, note}``; ``other_device`` is None when it
    cannot be told (no fingerprint to compare), ``note`` a sentence when it is True.
    """
    from green_estimate.profile import _gpu_name, cpu_fingerprint

    dev = prof.data.get("device", {})
    fp = dev.get("fingerprint", {}) or {}
    other: bool | None = None
    here = None
    try:
        if device and device.startswith("cuda"):
            here = _gpu_name(device)
            if here:
                theirs = fp.get("gpu_name") or dev.get("name")
                other = dev.get("kind") != "gpu" or theirs != here
        else:
            here = cpu_fingerprint()["cpu_model"]
            other = dev.get("kind") != "cpu" or fp.get("cpu_model") != here
    except Exception:  # noqa: BLE001 - identifying the machine must never stop a run
        other = None
    note = (f"Predictions were priced by profile {prof.name}, measured on another device ({prof.device_name}), "
            f"not on this {here or 'machine'}: calibrate here for predictions of this machine.") if other else ""
    return {"name": prof.name, "device": prof.device_name, "provenance": prof.provenance, "origin": prof.origin,
            "other_device": other, "note": note}


def _profile_notes(prof: Profile, classes: dict[str, ClassPrice]) -> list[str]:
    notes = []
    if prof.provenance == "measured-runs":
        src = prof.data.get("runs_model", {}).get("source", {})
        notes.append(f"Energy figures are measured-runs: profile {prof.name} was fitted to {src.get('runs', '?')} "
                     f"measured whole training runs ({src.get('path', '?')}) from prior "
                     f"{prof.data.get('runs_model', {}).get('prior', {}).get('profile', '?')}.")
    elif prof.provenance != "measured":
        notes.append(f"Energy figures are {prof.provenance}: profile {prof.name} has no measured energy"
                     + (" (time × assumed watts)." if prof.provenance == "estimated" else " (vendor figures)."))
    defaulted = sorted(c for c, p in classes.items() if p.priced_as != c)
    if defaulted:
        notes.append(f"Classes without their own calibration, priced as {prof.data['default_class']}: {', '.join(defaulted)}.")
    dev = prof.data.get("device", {})
    if dev.get("kind") == "cpu":
        try:
            from green_estimate.profile import cpu_fingerprint

            if dev.get("fingerprint", {}).get("cpu_model") != cpu_fingerprint()["cpu_model"]:
                notes.append(f"Profile {prof.name} was measured on another device ({prof.device_name}).")
        except Exception:  # noqa: BLE001 - a note must never break a prediction
            pass
    return notes


def predict_report(
    report: CostReport,
    *,
    plan: TrainingPlan,
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    carbon: Any = None,
    probe: bool = True,
) -> Prediction:
    """Price an already counted step.

    ``probe``: when the profile was made on another CPU, probe this one and rescale the profile
    (see :mod:`green_estimate.transfer`); ``False`` prices as on the machine that made it.
    """
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: give a probability between 0 and 1, e.g. 0.9")
    prof = resolve_profile(profile)
    transfer_notes: list[str] = []
    if probe:
        from green_estimate.transfer import transfer_profile

        prof, transfer_notes = transfer_profile(prof)
    classes = price_step(report, prof)
    notes = _profile_notes(prof, classes) + transfer_notes + list(report.notes)
    if plan.samples is None and plan.steps_given is None:
        notes.append("No --samples or --steps given: the total is one step per epoch.")
    return Prediction(report.model, prof, plan, confidence, classes, report, carbon, notes)


def predict(
    model: str,
    *,
    batch_size: int = 64,
    epochs: int = 1,
    samples: int | None = None,
    steps: int | None = None,
    optimizer: str = "adam",
    input_shape: tuple[int, ...] | None = None,
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    grid_intensity: float | None = None,
    region: str | None = None,
    model_kwargs: dict | None = None,
    input_dtype: str | None = None,
    vocab_size: int | None = None,
) -> Prediction:
    """Predict the energy and time of training MODEL (``file.py[:name]`` or ``pkg.module[:name]``).

    Example:
        >>> predict("green_estimate/examples/simple_cnn.py", samples=60000, epochs=25, batch_size=512)
    """
    from green_estimate.carbon import grid_intensity_g_per_kwh
    from green_estimate.counting.counter import count_model

    plan = TrainingPlan(batch_size, epochs, samples, steps)
    carbon = grid_intensity_g_per_kwh(region=region, grid_intensity=grid_intensity)
    prof = resolve_profile(profile)  # fail on a bad profile before counting
    report = count_model(model, batch_size=batch_size, optimizer=optimizer, input_shape=input_shape,
                         model_kwargs=model_kwargs, input_dtype=input_dtype, vocab_size=vocab_size)
    return predict_report(report, plan=plan, profile=prof, confidence=confidence, carbon=carbon)


def predict_model(
    build_model: Callable[[], Any],
    *,
    input_shape: tuple[int, ...],
    batch_size: int,
    steps: int,
    optimizer: str = "adam",
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    name: str = "model",
    device: str | None = None,
) -> dict:
    """Predict an in-process model (``validate`` uses this before each trial trains); returns the JSON dict.

    ``device`` (``cpu`` or ``cuda:N``) picks the default profile when ``profile`` is None.
    """
    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import Workload

    report = count_workload(Workload(name=name, build=build_model, input_shape=tuple(input_shape)),
                            batch_size=batch_size, optimizer=optimizer)
    plan = TrainingPlan(batch_size=batch_size, epochs=1, samples=None, steps_given=steps)
    return predict_report(report, plan=plan, profile=resolve_profile(profile, device), confidence=confidence).to_dict()
