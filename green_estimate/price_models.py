"""The models that price a step: a :class:`ClassModel` per layer class and target, the in-context
:class:`StepModel` of a calibrated profile and the :class:`HarnessCost` it gives one step.

:class:`green_estimate.profile.Profile` holds them; calibration and prediction both price through
them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from green_estimate.errors import ProfileError

STEP_FORM = "incontext@1"  # the step model that calibration writes (see calibration/step_fit.py)


@dataclass(frozen=True)
class ClassModel:
    """A linear model of one target (time or energy) of one layer class's ops.

    ``prediction = params · Σ_ops features(op)``; see docs/profile-format.md for the interval maths.
    """

    features: list[str]
    params: list[float]
    cov: list[list[float]]
    resid_rel_sd: float
    df_resid: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassModel:
        if d.get("form", "linear") != "linear":
            raise ProfileError(f"unknown model form {d.get('form')!r}: upgrade green-estimate to read this profile")
        n = len(d["features"])
        if len(d["params"]) != n or len(d["cov"]) != n:
            raise ProfileError("a class model's params/cov do not match its features: recalibrate")
        from green_estimate.features import FEATURES

        unknown = [f for f in d["features"] if f not in FEATURES]
        if unknown:
            raise ProfileError(f"a class model uses features this green-estimate does not know ({', '.join(unknown)}): "
                               "upgrade green-estimate or recalibrate")
        return cls(list(d["features"]), [float(p) for p in d["params"]], [[float(c) for c in row] for row in d["cov"]],
                   float(d["resid_rel_sd"]), int(d["df_resid"]))

    def to_dict(self) -> dict:
        return {"form": "linear", "features": list(self.features), "params": list(self.params),
                "cov": [list(row) for row in self.cov], "resid_rel_sd": self.resid_rel_sd, "df_resid": self.df_resid}

    def times(self, factor: float) -> ClassModel:
        """This model with every coefficient multiplied by ``factor`` (and its covariance by ``factor²``)."""
        return ClassModel(self.features, [p * factor for p in self.params],
                          [[c * factor * factor for c in row] for row in self.cov], self.resid_rel_sd, self.df_resid)

    def mean(self, ops: list, params: list[float] | None = None) -> float:
        """The mean cost of ``ops``; ``params`` overrides the coefficients (calibration's refits)."""
        return self.means(ops, params, (None,))[0]

    def means(self, ops: list, params: list[float] | None, terms_seq: Iterable[str | None]) -> list[float]:
        """:meth:`mean` for each ``terms`` of ``terms_seq``, summing the ops' features once: each keeps
        only some terms (``None`` all; ``"fixed"``, ``"var"``, ``"flops"``: see
        :func:`~green_estimate.counting.regions.scale_parts`)."""
        from green_estimate.features import model_means

        return model_means({"features": self.features, "params": self.params}, ops, params, terms_seq)

    def price(self, ops: list) -> tuple[float, float]:
        """The mean cost of ``ops`` (``x = Σ features``, mean ``β·x``) and its variance from the
        coefficients' covariance (``xᵀΣx``)."""
        return self.price_terms(ops, (None,))[0]

    def price_terms(self, ops: list, terms_seq: Iterable[str | None]) -> list[tuple[float, float]]:
        """:meth:`price` for each ``terms`` of ``terms_seq`` (as in :meth:`means`; the other terms' x are
        0), summing the ops' features once."""
        from green_estimate.features import feature_vector, kept_terms

        x_all = feature_vector(ops, self.features)
        n = len(x_all)
        out = []
        for terms in terms_seq:
            x = kept_terms(self.features, x_all, terms)
            mean = sum(p * xi for p, xi in zip(self.params, x))
            var = sum(x[i] * self.cov[i][j] * x[j] for i in range(n) for j in range(n))
            out.append((mean, max(var, 0.0)))
        return out


@dataclass(frozen=True)
class HarnessCost:
    """The work of one step between its ops (module calls, autograd, the optimizer's Python loop)."""

    time_s: float
    energy_j: float


@dataclass(frozen=True)
class StepModel:
    """The in-context step model of a calibrated profile (form ``incontext@1``, calibration/step_fit.py).

    ``time_s = Σ_groups scale_g · op_time_g + const + dispatch · dispatches + param_tensor · param_tensors
    + fresh · fresh_bytes``; the harness (the terms after the scales) draws the power ``rest_w``.

    Attributes:
        terms: coefficient of each step feature (``op_time_s``, ..., ``const``, ``dispatches``,
            ``param_tensors``).
        power_w: per-class power and ``rest_w``, as fitted.
        interval: the leave-one-family-out errors (``abs_log_err`` per target, ``local`` by make-up).
        n_samples: calibration networks behind the fit.
    """

    terms: dict[str, float]
    power_w: Mapping[str, Any]
    interval: Mapping[str, Any]
    n_samples: int | None = None
    _scales: dict = field(default_factory=dict, compare=False, repr=False)  # reference_scale's, computed once

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "?") -> StepModel:
        if d.get("form") != STEP_FORM:
            raise ProfileError(f"profile {name} was made by an older green-estimate (microbenchmarks, "
                               "no in-context step model): recalibrate with `green-estimate calibrate --cpu`")
        try:
            terms = dict(zip(d["features"], d["time_s"]["params"]))
            return cls(terms, d["power_w"], d["interval"], d.get("n_samples"))
        except (KeyError, TypeError) as e:
            raise ProfileError(f"profile {name} has a damaged step model ({type(e).__name__}: {e}): recalibrate") from e

    @property
    def split_by_class(self) -> bool:
        """Whether this profile scales a recurrent region's linear and other ops (made before its
        terms were split: it has none of the recurrent groups of
        :data:`~green_estimate.counting.regions.SCALE_GROUPS`)."""
        from green_estimate.counting.regions import SCALE_GROUPS

        return not any(f"{g}_time_s" in self.terms for g in SCALE_GROUPS if g.startswith(("rnn_", "lstm_")))

    def scale(self, group: str) -> float:
        """The in-step factor of op time of one scale group (``op``, ``rnn_var``, ``lstm_flops``, ...)."""
        from green_estimate.counting.regions import SCALE_FALLBACK

        return self.terms.get(f"{group}_time_s", self.terms.get(f"{SCALE_FALLBACK.get(group, group)}_time_s", 1.0))

    @property
    def rest_w(self) -> float:
        """The power drawn between ops (and by classes without a power of their own), W."""
        return self.power_w["rest_w"]

    def harness(self, dispatches: int, param_tensors: int, ops: Iterable[Any] = ()) -> HarnessCost:
        """The harness of a step of ``dispatches`` aten calls over ``param_tensors`` parameter tensors; its
        ``ops`` give the fresh-page term (new tensors of 32 MiB or more, unmapped between ops)."""
        t = self.terms["const"] + self.terms["dispatches"] * dispatches + self.terms["param_tensors"] * param_tensors
        if self.terms.get("fresh_bytes"):  # profiles before it have no such term
            from green_estimate.features import fresh_bytes

            t += self.terms["fresh_bytes"] * fresh_bytes(ops)
        return HarnessCost(time_s=t, energy_j=self.rest_w * t)

    def reference_scale(self, target: str, confidence: float) -> float:
        """The factor of the local half-widths at ``confidence`` from the profile's reference
        architectures (split conformal: :func:`green_estimate.intervals.conformal_scale`); 1 without them."""
        key = (target, round(confidence, 9))
        if key not in self._scales:
            reference, local = self.interval.get("reference"), self.interval.get("local")
            scale = None
            if reference and local:
                from green_estimate.intervals import conformal_scale

                scale = conformal_scale(local, reference, target, confidence)
            self._scales[key] = 1.0 if scale is None else scale
        return self._scales[key]

    def applied_scale(self, target: str, confidence: float, carried: bool = False) -> float:
        """:meth:`reference_scale` as the interval applies it: on a CPU the profile was carried to
        (green_estimate/transfer.py) never below 1. The reference architectures were measured on the
        machine that made the profile; their errors there may widen an interval elsewhere, not narrow it."""
        scale = self.reference_scale(target, confidence)
        return max(scale, 1.0) if carried else scale

    def abs_log_err(self, target: str) -> list[float]:
        """The absolute log errors of whole steps of unseen families, for ``time_s`` or ``energy_j``."""
        return self.interval[target]["abs_log_err"]

    def interval_basis(self, confidence: float, carried: bool = False) -> dict:
        """Where the interval comes from, and how often such intervals covered unseen families
        (``carried``: the profile was carried to this CPU, see :meth:`applied_scale`)."""
        iv = self.interval
        local = iv.get("local")
        covers = local["coverage_unseen_family"] if local else {t: iv[t]["coverage_unseen_family"] for t in ("time_s", "energy_j")}
        cover = covers["time_s"]
        key = min(cover, key=lambda k: abs(float(k) - confidence)) if cover else None
        method = iv["method"] + (", errors of networks made up like this step" if local else "")
        out = {"method": method, "families": iv["families"], "networks": iv["n"],
               "coverage_unseen_family": None if key is None else {"confidence": float(key), "time_s": cover[key],
                                                                   "energy_j": covers["energy_j"][key]}}
        from green_estimate.intervals import MIN_REFERENCES

        ref = iv.get("reference")
        n = len(ref.get("time_s") or []) if ref else 0
        if local and n >= MIN_REFERENCES:
            out["method"] += f", scaled by {n} reference architectures (split conformal)"
            targets = ("time_s", "energy_j")
            out["reference"] = {"architectures": n, "confidence": confidence,
                                "scale": {t: self.applied_scale(t, confidence, carried) for t in targets},
                                "median_ape": ref["median_ape"]}
            if carried:  # the factors on the machine that made the profile, where the references were measured
                out["reference"]["home_scale"] = {t: self.reference_scale(t, confidence) for t in targets}
        return out
