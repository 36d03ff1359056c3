"""A prediction: a priced step multiplied out to a training plan, and its ``prediction@1`` document.

The whole run repeats the same step, so its interval is the step's interval × steps: run-to-run
noise averages out, a model error does not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from green_estimate.carbon import J_PER_KWH
from green_estimate.counting.report import REQUIRED_CLASSES, CostReport
from green_estimate.pricing import ClassPrice, interval_log_halfwidth, lognormal_interval
from green_estimate.profile import Profile
from green_estimate.training_plan import TrainingPlan


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
        prof = self.profile
        runs = prof.runs_model
        if runs:
            iv = runs["interval"]
            return {"method": "runs: " + iv["energy_j"]["method"], "configurations": iv["energy_j"]["configurations"],
                    "sigma_log": {t: iv[t]["sigma_log"] for t in ("energy_j", "time_s")},
                    "df": {t: iv[t]["df"] for t in ("energy_j", "time_s")},
                    "coverage_unseen_family": None, "runs_source": runs["source"], "transfer": prof.transfer}
        if not prof.step:
            return {"method": "coefficient covariance and calibration residuals", "coverage_unseen_family": None,
                    "transfer": prof.transfer}
        return {**prof.step.interval_basis(self.confidence, carried=prof.transfer is not None), "transfer": prof.transfer}

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
        by_class = self._by_class(e)
        n, comm, prof = self.gpus, self.parallel, self.profile
        is_gpu = prof.is_gpu
        totals = self.report.totals()
        return {
            "schema": "green-estimate/prediction@1",
            "model": self.model,
            "precision": self.report.precision,
            "profile": {**prof.summary(), "energy_basis": prof.energy_basis},
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
            "step": {"flops": totals.flops, "bytes": totals.bytes, "ops": totals.ops,
                     "parameters": self.report.parameters, "optimizer": self.report.optimizer, "loss": self.report.loss},
            "uncounted_ops": self.report.uncounted_ops(),
            "interval": self.interval_basis(),
            "notes": self.notes,
        }

    def _by_class(self, e: float) -> dict:
        """Energy per step by class (the whole cluster's), communication and network beside them."""
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
        for c in REQUIRED_CLASSES:  # the study's three classes are always there, zero when absent
            by_class.setdefault(c, {"energy_j_per_step": 0.0, "share": 0.0, "time_s_per_step": 0.0, "flops": 0,
                                    "bytes": 0, "ops": 0, "priced_as": c})
        return by_class


def ratios_to_first(documents: list[dict]) -> list[float]:
    """Each ``prediction@1`` document's total energy over the first's (NaN when the first is zero)."""
    base = documents[0]["total"]["energy_j"]
    return [d["total"]["energy_j"] / base if base else float("nan") for d in documents]


@dataclass
class PredictionSet:
    """Several models predicted for one plan (``green-estimate predict A B``), compared with the first."""

    predictions: list[Prediction]

    def to_dict(self) -> dict:
        """One model's ``prediction@1``; several: ``comparison@1`` with each prediction and its ratio."""
        docs = [p.to_dict() for p in self.predictions]
        if len(docs) == 1:
            return docs[0]
        return {"schema": "green-estimate/comparison@1", "predictions": docs, "ratios_to_first": ratios_to_first(docs)}

    def documents(self) -> list[dict]:
        """Every prediction's ``prediction@1`` document, in order."""
        return [p.to_dict() for p in self.predictions]
