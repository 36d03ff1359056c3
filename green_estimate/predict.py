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
from green_estimate.features import feature_vector
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
    """Mean, coefficient variance and residual variance of one class's ops (stage-one model)."""
    model, used = profile.model_for(cls, target)
    x = feature_vector(ops, model.features)
    mean = sum(p * xi for p, xi in zip(model.params, x))
    coef_var = sum(x[i] * model.cov[i][j] * x[j] for i in range(len(x)) for j in range(len(x)))
    return mean, max(coef_var, 0.0), (model.resid_rel_sd * mean) ** 2, used


def price_step(report: CostReport, profile: Profile) -> dict[str, ClassPrice]:
    """Energy and time of one counted step, per class, with variances.

    With a stage-two ``step_model`` in the profile (fitted on whole training steps), each major
    class is scaled by its in-context factor, the per-step constant becomes class ``overhead``, and
    the step-level residual spread replaces the per-class residuals (which it contains).
    """
    groups: dict[str, list[OpRecord]] = {}
    for op in report.ops:
        groups.setdefault(op.cls, []).append(op)
    step_model = profile.data.get("step_model")
    raw: dict[str, dict[str, tuple[float, float, float, str]]] = {
        cls: {t: _price(ops, profile, cls, t) for t in ("energy_j", "time_s")} for cls, ops in groups.items()
    }
    out: dict[str, ClassPrice] = {}
    extra: dict[str, tuple[float, float]] = {}
    for target in ("energy_j", "time_s"):
        scales = step_model["classes"][target] if step_model else {}
        means = {}
        for cls, by_t in raw.items():
            mean, cvar, rvar, used = by_t[target]
            k = scales.get(cls, 1.0)
            means[cls] = (k * mean, k * k * cvar + (0.0 if step_model else k * k * rvar), used)
        if step_model:
            const = step_model["const"][target]
            cov = step_model["cov"][target]
            x = [1.0 if n == "const" else raw.get(n, {target: (0.0, 0, 0, "")})[target][0] for n in cov["names"]]
            m = cov["matrix"]
            coef_var = sum(x[i] * m[i][j] * x[j] for i in range(len(x)) for j in range(len(x)))
            total = const + sum(v[0] for v in means.values())
            extra[target] = (const, max(coef_var, 0.0) + (step_model["resid_rel_sd"][target] * total) ** 2)
        else:
            harness = profile.data.get("step_overhead")
            if harness and any(op.phase == "backward" for op in report.ops):
                # the once-per-step cost of calling backward(), calibrated from the harness cases
                key = "backward_call_j" if target == "energy_j" else "backward_call_s"
                extra[target] = (harness[key], harness.get(key + "_sd", 0.0) ** 2)
        for cls, v in means.items():
            prev = out.get(cls)
            ops = groups[cls]
            if target == "energy_j":
                out[cls] = ClassPrice(v[0], v[1], 0.0, 0.0, v[2], sum(o.flops for o in ops), sum(o.nbytes for o in ops), len(ops))
            else:
                assert prev is not None
                prev.time_s, prev.time_var = v[0], v[1]
    if extra:
        e = extra.get("energy_j", (0.0, 0.0))
        t = extra.get("time_s", (0.0, 0.0))
        out["overhead"] = ClassPrice(e[0], e[1], t[0], t[1], "overhead")
    return out


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

    @property
    def energy_j(self) -> float:
        return sum(c.energy_j for c in self.classes.values())

    @property
    def time_s(self) -> float:
        return sum(c.time_s for c in self.classes.values())

    def energy_interval(self) -> tuple[float, float]:
        return lognormal_interval(self.energy_j, sum(c.energy_var for c in self.classes.values()), self.confidence)

    def time_interval(self) -> tuple[float, float]:
        return lognormal_interval(self.time_s, sum(c.time_var for c in self.classes.values()), self.confidence)

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
    if prof.provenance != "measured":
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
) -> Prediction:
    """Price an already counted step."""
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: give a probability between 0 and 1, e.g. 0.9")
    prof = resolve_profile(profile)
    classes = price_step(report, prof)
    notes = _profile_notes(prof, classes) + list(report.notes)
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
