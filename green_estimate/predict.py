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
from green_estimate.loading import Workload
from green_estimate.profile import Profile, default_profile, load_profile


@dataclass(frozen=True, init=False)
class TrainingPlan:
    """How much training: steps = ceil(samples / (batch × grad_accum × gpus)) × epochs, or ``steps``.

    A step is one optimizer update: ``grad_accum`` micro-batches of ``batch_size`` samples on each of
    ``gpus`` data-parallel GPUs. ``TrainingPlan(batch_size=4, steps=10)`` fixes the number of steps;
    ``steps_given`` is the same field under its stored name (``plan.steps`` is always the count in
    effect, computed from ``samples`` and ``epochs`` when no steps were given).

    Example:
        >>> TrainingPlan(batch_size=512, epochs=25, samples=60000).steps
        2950
    """

    batch_size: int = 64
    epochs: int = 1
    samples: int | None = None
    steps_given: int | None = None
    grad_accum: int = 1
    gpus: int = 1

    def __init__(self, batch_size: int = 64, epochs: int = 1, samples: int | None = None,
                 steps_given: int | None = None, grad_accum: int = 1, gpus: int = 1, *,
                 steps: int | None = None) -> None:
        if steps is not None and steps_given is not None and steps != steps_given:
            raise UsageError(f"TrainingPlan(steps={steps}, steps_given={steps_given}): give the steps once")
        for name, value in (("batch_size", batch_size), ("epochs", epochs), ("samples", samples),
                            ("steps_given", steps if steps is not None else steps_given), ("grad_accum", grad_accum),
                            ("gpus", gpus)):
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs}: must be at least 1")
        if self.samples is not None and self.samples < 1:
            raise UsageError(f"--samples {self.samples}: must be at least 1 (the training-set size)")
        if self.steps_given is not None and self.steps_given < 1:
            raise UsageError(f"--steps {self.steps_given}: must be at least 1")
        if self.grad_accum < 1:
            raise UsageError(f"--grad-accum {self.grad_accum}: must be at least 1 (micro-batches per optimizer step)")
        if self.gpus < 1:
            raise UsageError(f"--gpus {self.gpus}: must be at least 1")

    @property
    def samples_per_step(self) -> int:
        """Samples in one optimizer step over all GPUs (the global batch)."""
        return self.batch_size * self.grad_accum * self.gpus

    @property
    def steps(self) -> int:
        if self.steps_given is not None:
            return self.steps_given
        if self.samples is None:
            return self.epochs  # one step per epoch: no dataset size was given
        # a DataLoader without drop_last; the last step of an epoch may hold fewer micro-batches
        return math.ceil(self.samples / self.samples_per_step) * self.epochs

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "epochs": self.epochs, "samples": self.samples, "steps": self.steps,
                "grad_accum": self.grad_accum, "gpus": self.gpus, "samples_per_step": self.samples_per_step}


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
    from green_estimate.counting.regions import SCALE_FALLBACK, SCALE_GROUPS, scale_group

    step = profile.data.get("step_model")
    terms = dict(zip(step["features"], step["time_s"]["params"])) if step else {}
    scales = {g: terms.get(f"{g}_time_s", terms.get(f"{SCALE_FALLBACK.get(g, g)}_time_s", 1.0)) for g in SCALE_GROUPS}
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
            if group != "op":
                price.fused_time_s += k * t
            price.priced_as = used
        out[cls] = price
    if step:
        t = terms["const"] + terms["dispatches"] * report.dispatches + terms["param_tensors"] * report.param_tensors
        if terms.get("fresh_bytes"):  # profiles before it have no such term
            from green_estimate.features import fresh_bytes

            t += terms["fresh_bytes"] * fresh_bytes(report.ops)
        out["overhead"] = ClassPrice(step["power_w"]["rest_w"] * t, 0.0, t, 0.0, "overhead")
    runs = profile.data.get("runs_model")
    if runs:  # fitted to measured runs: the prior's classes repriced (green_estimate/runs/model.py)
        from green_estimate.runs.model import apply_runs_model

        out = apply_runs_model(out, report, runs)
    return out


def interval_log_halfwidth(profile: Profile, target: str, confidence: float,
                           classes: dict[str, ClassPrice] | None = None) -> float | None:
    """The half-width (in log) of the interval from the profile's leave-one-family-out errors.

    With the step's ``classes`` and a profile that stores its errors by make-up, the errors of
    calibration networks made up like this step (see :mod:`green_estimate.intervals`).
    """
    runs = profile.data.get("runs_model")
    if runs:
        from green_estimate.runs.model import log_halfwidth

        return log_halfwidth(runs, target, confidence) + float(profile.data.get("transfer", {}).get("log_error", 0.0))
    step = profile.data.get("step_model")
    if not step:
        return None
    local = step["interval"].get("local")
    if local and classes is not None:
        from green_estimate.intervals import local_halfwidth, make_up

        ops = {k: c for k, c in classes.items() if c.ops}  # layer classes, not overhead or communication
        at = make_up({k: c.time_s for k, c in ops.items()}, sum(c.fused_time_s for c in ops.values()), local["kinds"])
        q = local_halfwidth(local, target, confidence, at)
    else:
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
    parallel: Any = None  # parallel.Communication | None: data parallelism on several GPUs

    def _interval(self, target: str, mean: float, var: float) -> tuple[float, float]:
        q = interval_log_halfwidth(self.profile, target, self.confidence, self.classes)
        if q is None or mean <= 0:
            return lognormal_interval(mean, var, self.confidence)
        return (mean * math.exp(-q), mean * math.exp(q))

    @property
    def gpus(self) -> int:
        return self.plan.gpus

    @property
    def device_energy_j(self) -> float:
        """One device's energy per step, communication left out."""
        return sum(c.energy_j for c in self.classes.values())

    @property
    def energy_j(self) -> float:
        """The whole cluster's energy per optimizer step: every GPU's step plus communication."""
        extra = self.parallel.energy_j if self.parallel is not None else 0.0
        return self.device_energy_j * self.gpus + extra

    @property
    def time_s(self) -> float:
        """Wall time per optimizer step: one GPU's step plus the communication it cannot hide."""
        extra = self.parallel.exposed_time_s if self.parallel is not None else 0.0
        return sum(c.time_s for c in self.classes.values()) + extra

    def energy_interval(self) -> tuple[float, float]:
        # the compute interval scales with the GPUs; communication is added as a point (no interval of its own)
        lo, hi = self._interval("energy_j", self.device_energy_j, sum(c.energy_var for c in self.classes.values()))
        extra = self.parallel.energy_j if self.parallel is not None else 0.0
        return (lo * self.gpus + extra, hi * self.gpus + extra)

    def time_interval(self) -> tuple[float, float]:
        t = sum(c.time_s for c in self.classes.values())
        lo, hi = self._interval("time_s", t, sum(c.time_var for c in self.classes.values()))
        extra = self.parallel.exposed_time_s if self.parallel is not None else 0.0
        return (lo + extra, hi + extra)

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
        local = iv.get("local")
        covers = local["coverage_unseen_family"] if local else {t: iv[t]["coverage_unseen_family"] for t in ("time_s", "energy_j")}
        cover = covers["time_s"]
        key = min(cover, key=lambda k: abs(float(k) - self.confidence)) if cover else None
        method = iv["method"] + (", errors of networks made up like this step" if local else "")
        return {"method": method, "families": iv["families"], "networks": iv["n"],
                "coverage_unseen_family": None if key is None else {"confidence": float(key), "time_s": cover[key],
                                                                    "energy_j": covers["energy_j"][key]},
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
        n = self.gpus  # class energies are the whole cluster's; FLOPs, bytes and ops one GPU's
        by_class = {
            c: {"energy_j_per_step": p.energy_j * n, "share": (p.energy_j * n / e) if e > 0 else 0.0,
                "time_s_per_step": p.time_s, "flops": p.flops, "bytes": p.nbytes, "ops": p.ops, "priced_as": p.priced_as}
            for c, p in sorted(self.classes.items(), key=lambda kv: -kv[1].energy_j)
        }
        comm = self.parallel
        if comm is not None:  # the communication share, beside the layer classes
            moved = sum(c.bytes_per_gpu * c.per_step for c in comm.items)
            by_class["communication"] = {
                "energy_j_per_step": comm.wait_energy_j, "share": comm.wait_energy_j / e if e > 0 else 0.0,
                "time_s_per_step": comm.exposed_time_s, "flops": 0, "bytes": int(moved), "ops": len(comm.items),
                "priced_as": "communication"}
            by_class["network"] = {
                "energy_j_per_step": comm.network_energy_j, "share": comm.network_energy_j / e if e > 0 else 0.0,
                "time_s_per_step": 0.0, "flops": 0, "bytes": 0, "ops": 0, "priced_as": "network"}
        is_gpu = self.profile.data.get("device", {}).get("kind") == "gpu"
        for c in REQUIRED_CLASSES:  # the study's three classes are always there, zero when absent
            by_class.setdefault(c, {"energy_j_per_step": 0.0, "share": 0.0, "time_s_per_step": 0.0, "flops": 0,
                                    "bytes": 0, "ops": 0, "priced_as": c})
        prof = self.profile
        return {
            "schema": "green-estimate/prediction@1",
            "model": self.model,
            "precision": self.report.precision,
            "profile": {**prof.summary(), "energy_basis": prof.data.get("energy_basis", "total")},
            "plan": self.plan.to_dict(),
            "confidence": self.confidence,
            "per_step": {"energy_j": e, "energy_j_interval": list(ei), "time_s": t, "time_s_interval": list(ti)},
            "total": {
                "energy_j": total_e, "energy_j_interval": [ei[0] * steps, ei[1] * steps],
                "energy_kwh": total_e / J_PER_KWH,
                "energy_kwh_interval": [ei[0] * steps / J_PER_KWH, ei[1] * steps / J_PER_KWH],
                "time_s": t * steps, "time_s_interval": [ti[0] * steps, ti[1] * steps],
                "gpus": n, "gpu_hours": t * steps * n / 3600.0 if is_gpu else None,
                "co2e_g": co2,
                "co2e_g_interval": None if co2 is None else [co2 * ei[0] / e, co2 * ei[1] / e] if e > 0 else [0.0, 0.0],
            },
            "grid_intensity": None if self.carbon is None else self.carbon.to_dict(),
            "by_class": by_class,
            "parallel": None if comm is None else comm.to_dict(e),
            "step": {"flops": self.report.totals().flops, "bytes": self.report.totals().bytes,
                     "ops": self.report.totals().ops, "parameters": self.report.parameters,
                     "optimizer": self.report.optimizer, "loss": self.report.loss},
            "uncounted_ops": self.report.uncounted_ops(),
            "interval": self.interval_basis(),
            "notes": self.notes,
        }


def resolve_profile(profile: str | Profile | None, device: str | None = None, precision: str | None = None) -> Profile:
    """A profile object from a name, path or object; ``None`` picks :func:`default_profile`.

    With ``precision``, a datasheet profile named without a variant (``datasheet:h100-sxm``, or picked
    by default for a GPU) is made for that precision; any other profile is returned as it is, and
    :func:`check_precision_matches` refuses it if it prices another precision.
    """
    if isinstance(profile, Profile):
        return profile
    if precision is not None:
        key = _datasheet_key_without_variant(profile)
        if key is not None:
            from green_estimate.datasheet import datasheet_profile

            return Profile.from_dict(datasheet_profile(key, precision=precision), origin="datasheet")
    prof = default_profile(device, precision) if profile is None else load_profile(profile)
    if precision is not None and profile is None and prof.origin == "datasheet" and prof.precision != precision:
        from green_estimate.datasheet import datasheet_profile

        return Profile.from_dict(datasheet_profile(prof.data["datasheet"]["gpu"], precision=precision), origin="datasheet")
    return prof


def _datasheet_key_without_variant(ref: str | None) -> str | None:
    """``h100-sxm`` for ``datasheet:h100-sxm`` (no ``:variant``); None for anything else."""
    if not isinstance(ref, str) or not ref.startswith("datasheet:"):
        return None
    key, _, variant = ref[len("datasheet:"):].partition(":")
    return None if variant else key


def check_precision_matches(prof: Profile, precision: str) -> None:
    """Refuse a profile that prices another training precision than the one asked for."""
    if prof.precision == precision:
        return
    if prof.origin == "datasheet":
        how = f"use --profile {prof.data['name'].split(':')[0]}:{prof.data['datasheet']['gpu']} (made for the precision asked)"
    else:
        how = f"calibrate one with `green-estimate calibrate --cpu --precision {precision}` (or --gpu N), or pass a datasheet:<gpu> profile"
    raise UsageError(f"profile {prof.name} prices {prof.precision} training, not --precision {precision}: {how}, "
                     f"or predict with --precision {prof.precision}")


def count_settings(prof: Profile) -> dict:
    """How to count a step for this profile: its device kind picks autocast's op lists and the attention
    kernel; a calibrated profile's in-context attention scale was fitted on attention's math
    decomposition, so its steps are counted with that (see counting/attention.py)."""
    target = "cuda" if prof.data.get("device", {}).get("kind") == "gpu" else "cpu"
    return {"target": target, "attention": "math" if prof.data.get("step_model") else "auto"}


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
    parallel: Any = None,
) -> Prediction:
    """Price an already counted step (one micro-batch and the optimizer update).

    ``probe``: when the profile was made on another CPU, probe this one and rescale the profile
    (see :mod:`green_estimate.transfer`); ``False`` prices as on the machine that made it.
    ``plan.grad_accum`` micro-batches make one optimizer step (:mod:`green_estimate.accumulation`);
    ``parallel`` (a :class:`~green_estimate.parallel.ParallelPlan`) adds the collectives of data
    parallelism on ``plan.gpus`` GPUs (:mod:`green_estimate.parallel`).
    """
    from green_estimate.accumulation import optimizer_step

    if not 0 < confidence < 1:
        raise UsageError(f"--confidence {confidence}: give a probability between 0 and 1, e.g. 0.9")
    if parallel is not None and parallel.gpus != plan.gpus:
        raise UsageError(f"the plan has {plan.gpus} GPU(s) but the parallel plan {parallel.gpus}: give one --gpus")
    prof = resolve_profile(profile, precision=report.precision)
    check_precision_matches(prof, report.precision)
    transfer_notes: list[str] = []
    if probe:
        from green_estimate.transfer import transfer_profile

        prof, transfer_notes = transfer_profile(prof)
    step = optimizer_step(report, plan.grad_accum)
    classes = price_step(step, prof)
    notes = _profile_notes(prof, classes) + transfer_notes + list(step.notes)
    comm = None
    if plan.gpus > 1:
        comm = _communication(report, step, prof, parallel, plan.grad_accum, classes, plan.gpus)
        notes += comm.notes
    if plan.samples is None and plan.steps_given is None:
        notes.append("No --samples or --steps given: the total is one step per epoch.")
    return Prediction(report.model, prof, plan, confidence, classes, step, carbon, notes, parallel=comm)


def _phase_time_s(report: CostReport, profile: Profile, phases: tuple[str, ...]) -> float:
    """Time of the ops of ``phases`` alone (the work between ops, class ``overhead``, left out)."""
    import dataclasses

    part = dataclasses.replace(report, ops=[o for o in report.ops if o.phase in phases], ignored_ops={})
    return sum(p.time_s for c, p in price_step(part, profile).items() if c != "overhead")


def _communication(report: CostReport, step: CostReport, prof: Profile, parallel: Any, grad_accum: int,
                   classes: dict[str, ClassPrice], gpus: int) -> Any:
    from green_estimate.parallel import ParallelPlan, price_communication

    parallel = parallel or ParallelPlan(gpus=gpus)
    # what communication can hide behind: DDP the last micro-batch's backward, FSDP every forward and backward
    window = (_phase_time_s(step, prof, ("forward", "backward")) if parallel.fsdp
              else _phase_time_s(report, prof, ("backward",)))
    return price_communication(parallel, prof, grad_bytes=report.grad_bytes, grad_accum=grad_accum,
                               window_s=window, compute_time_s=sum(c.time_s for c in classes.values()))


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
    grad_accum: int = 1,
    gpus: int = 1,
    nodes: int = 1,
    interconnect: str | None = None,
    fsdp: bool = False,
    overlap: float | None = None,
    precision: str = "fp32",
) -> Prediction:
    """Predict the energy and time of training MODEL (``file.py[:name]`` or ``pkg.module[:name]``).

    ``batch_size`` is the micro-batch of one GPU; ``grad_accum`` micro-batches make an optimizer
    step; ``gpus`` GPUs on ``nodes`` nodes train data-parallel (DDP, or ``fsdp``), linked by
    ``interconnect`` (``INTRA[,INTER]``, see :mod:`green_estimate.interconnect`).
    ``precision`` (``fp32``, ``tf32``, ``bf16``, ``fp16``) is the training precision: the step is
    counted under it (autocast for the half ones) and the profile must price it (a datasheet profile
    named without a variant is made for it; another profile is refused with what to do instead).

    Example:
        >>> predict("green_estimate/examples/simple_cnn.py", samples=60000, epochs=25, batch_size=512)
        >>> predict("gpt.py", steps=1000, batch_size=8, grad_accum=4, gpus=64, nodes=8, profile="datasheet:h100-sxm")
    """
    from green_estimate.loading import load_workload

    plan = TrainingPlan(batch_size, epochs, samples, steps_given=steps, grad_accum=grad_accum, gpus=gpus)

    def load() -> Workload:
        return load_workload(model, input_shape=input_shape, model_kwargs=model_kwargs, input_dtype=input_dtype,
                             vocab_size=vocab_size)

    return predict_workload(load, plan, optimizer=optimizer, profile=profile, confidence=confidence,
                            grid_intensity=grid_intensity, region=region, nodes=nodes, interconnect=interconnect,
                            fsdp=fsdp, overlap=overlap, precision=precision)


def predict_workload(
    workload: Workload | Callable[[], Workload],
    plan: TrainingPlan,
    *,
    optimizer: str = "adam",
    profile: str | Profile | None = None,
    confidence: float = 0.9,
    grid_intensity: float | None = None,
    region: str | None = None,
    nodes: int = 1,
    interconnect: str | None = None,
    fsdp: bool = False,
    overlap: float | None = None,
    precision: str = "fp32",
) -> Prediction:
    """Count a workload's step and price ``plan`` of it (what :func:`predict` and the Python API share).

    ``workload`` may be a function that loads it: it is called after the options, the profile and the
    carbon intensity are checked, so a bad option fails before a model file is imported.
    """
    from green_estimate.carbon import grid_intensity_g_per_kwh
    from green_estimate.counting.counter import count_workload
    from green_estimate.counting.precision import check_precision
    from green_estimate.parallel import DEFAULT_OVERLAP, ParallelPlan, require_gpu_profile

    parallel = ParallelPlan(plan.gpus, nodes, interconnect, fsdp, DEFAULT_OVERLAP if overlap is None else overlap)
    if interconnect is not None:
        from green_estimate.interconnect import parse_interconnects

        parse_interconnects(interconnect)  # a misspelt link fails even when it would not be used
    carbon = grid_intensity_g_per_kwh(region=region, grid_intensity=grid_intensity)
    precision = check_precision(precision)
    prof = resolve_profile(profile, precision=precision)  # fail on a bad profile before counting
    check_precision_matches(prof, precision)
    require_gpu_profile(prof, plan.gpus)
    loaded = workload() if callable(workload) else workload
    report = count_workload(loaded, batch_size=plan.batch_size, optimizer=optimizer, precision=precision,
                            **count_settings(prof))
    return predict_report(report, plan=plan, profile=prof, confidence=confidence, carbon=carbon, parallel=parallel)


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

    prof = resolve_profile(profile, device)
    report = count_workload(Workload(name=name, build=build_model, input_shape=tuple(input_shape)),
                            batch_size=batch_size, optimizer=optimizer, **count_settings(prof))
    plan = TrainingPlan(batch_size=batch_size, epochs=1, samples=None, steps_given=steps)
    return predict_report(report, plan=plan, profile=prof, confidence=confidence).to_dict()
