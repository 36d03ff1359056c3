"""Energy and CO2e budgets, and the verdict of a prediction against one (what ``check`` gates on).

A budget holds an energy limit, a CO2e limit (SI units), a limit on the increase over a baseline
(see :mod:`green_estimate.baseline`), or any of them together. The verdict compares the
prediction's point estimate or, with ``conservative``, the upper end of its prediction interval:
a CI gate that must not let an over-budget change through even when the model errs low. The
relative limit always compares point estimates (both sides share one calibration).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from green_estimate.baseline import BaselineRequest, Comparison, compare, load_baseline_json, parse_increase
from green_estimate.errors import BudgetError
from green_estimate.units import energy_kwh, format_energy, format_mass, parse_energy_j, parse_mass_g

PredictFn = Callable[..., Any]
"""``predict(model, **plan) -> Prediction``; the result has ``to_dict()`` (``predict@1``)."""

#: The keyword arguments of ``predict`` that describe the training run (all optional).
PLAN_OPTIONS = (
    "batch_size",
    "epochs",
    "samples",
    "steps",
    "optimizer",
    "input_shape",
    "input_dtype",
    "vocab_size",
    "profile",
    "confidence",
    "grid_intensity",
    "region",
    "grad_accum",
    "gpus",
    "nodes",
    "interconnect",
    "fsdp",
    "overlap",
)


def default_predict_fn() -> PredictFn:
    """The real predictor, imported only when a check or plan runs (it imports torch)."""
    from green_estimate.predict import predict

    return predict


@dataclass(frozen=True)
class Budget:
    """What a training run may cost. At least one limit is set; each is positive.

    Attributes:
        energy_j: energy limit in joules, or None.
        co2e_g: CO2-equivalent limit in grams, or None (needs a grid intensity to compare).
        conservative: compare the upper end of the prediction interval instead of the point.
        max_increase: the largest allowed increase over the baseline as a fraction (0.1 = 10 %),
            or None.
    """

    energy_j: float | None = None
    co2e_g: float | None = None
    conservative: bool = False
    max_increase: float | None = None

    def __post_init__(self) -> None:
        if self.energy_j is None and self.co2e_g is None and self.max_increase is None:
            raise BudgetError("no budget given: pass --budget (e.g. 2kWh), --co2-budget (e.g. 500g) "
                              "or --max-increase (e.g. 10%)")
        for name, limit in (("energy_j", self.energy_j), ("co2e_g", self.co2e_g)):
            if limit is not None and not limit > 0:
                raise BudgetError(f"budget {name}={limit!r} must be positive")
        if self.max_increase is not None and self.max_increase < 0:
            raise BudgetError(f"max_increase={self.max_increase!r} must not be negative")

    @classmethod
    def parse(cls, energy: str | None = None, co2e: str | None = None, *, conservative: bool = False,
              max_increase: str | None = None) -> Budget:
        """Build a budget from text such as ``"2kWh"``, ``"500g"`` and ``"10%"``.

        Raises:
            BudgetError: an unknown unit, a value that is not positive, or no limit at all.
        """
        return cls(
            energy_j=None if energy is None else parse_energy_j(energy, what="--budget"),
            co2e_g=None if co2e is None else parse_mass_g(co2e, what="--co2-budget"),
            conservative=conservative,
            max_increase=None if max_increase is None else parse_increase(max_increase),
        )

    @property
    def compared(self) -> str:
        """``"upper"`` (interval's upper bound) or ``"point"`` (the point estimate)."""
        return "upper" if self.conservative else "point"

    def to_dict(self) -> dict[str, Any]:
        return {
            "energy_j": self.energy_j,
            "energy_kwh": None if self.energy_j is None else energy_kwh(self.energy_j),
            "co2e_g": self.co2e_g,
            "compared": self.compared,
            "max_increase": self.max_increase,
        }


@dataclass(frozen=True)
class CheckRequest:
    """Everything ``check`` needs: the model, the budget and the training plan for ``predict``.

    Attributes:
        model: a MODEL spec (``path/file.py[:name]`` or ``pkg.module[:name]``).
        budget: the limits to hold the prediction to.
        plan: keyword arguments for ``predict`` (a subset of :data:`PLAN_OPTIONS`).
        config_path: the pyproject.toml the defaults came from, if any.
        baseline: where the baseline comes from, or None for no comparison. A ``max_increase``
            in the budget without one compares with the merge base (``BaselineRequest()``).
    """

    model: str
    budget: Budget
    plan: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    baseline: BaselineRequest | None = None


@dataclass(frozen=True)
class Verdict:
    """A prediction held against a budget.

    Attributes:
        budget: the limits.
        prediction: the ``predict@1`` dict.
        energy_j: the predicted energy that was compared (point or interval upper bound), J.
        co2e_g: the predicted CO2e that was compared, g, or None without an intensity.
        config_path: the pyproject.toml the defaults came from, if any.
        comparison: the prediction against a baseline, or None.
    """

    budget: Budget
    prediction: dict[str, Any]
    energy_j: float
    co2e_g: float | None
    config_path: str | None = None
    comparison: Comparison | None = None

    @property
    def exceeded(self) -> list[str]:
        """The limits the prediction is over: a subset of ``["energy", "co2e", "increase"]``."""
        over = []
        if self.budget.energy_j is not None and self.energy_j > self.budget.energy_j:
            over.append("energy")
        if self.budget.co2e_g is not None and self.co2e_g is not None and self.co2e_g > self.budget.co2e_g:
            over.append("co2e")
        if self.comparison is not None and self.comparison.exceeded:
            over.append("increase")
        return over

    @property
    def passed(self) -> bool:
        return not self.exceeded

    @property
    def verdict(self) -> str:
        """``"pass"`` or ``"fail"``."""
        return "pass" if self.passed else "fail"

    @property
    def margin(self) -> dict[str, float | None]:
        """Budget minus prediction (negative when over), and the share of each budget used."""
        energy_budget, co2_budget = self.budget.energy_j, self.budget.co2e_g
        has_co2 = co2_budget is not None and self.co2e_g is not None
        return {
            "energy_j": None if energy_budget is None else energy_budget - self.energy_j,
            "energy_share": None if energy_budget is None else self.energy_j / energy_budget,
            "co2e_g": co2_budget - self.co2e_g if has_co2 else None,  # type: ignore[operator]
            "co2e_share": self.co2e_g / co2_budget if has_co2 else None,  # type: ignore[operator]
        }

    def lines(self, *, exceeded_only: bool = False) -> list[str]:
        """One sentence per limit (or per exceeded limit).

        Example: ``"energy prediction 2.5 kWh is over the 2 kWh budget by 0.5 kWh (125% of budget)"``.
        """
        which = "upper bound" if self.budget.conservative else "prediction"
        margin, out = self.margin, []
        if self.budget.energy_j is not None and (not exceeded_only or "energy" in self.exceeded):
            gap = format_energy(abs(margin["energy_j"] or 0.0), like=max(self.energy_j, self.budget.energy_j))
            out.append(_sentence("energy", which, format_energy(self.energy_j), format_energy(self.budget.energy_j),
                                 gap, margin["energy_share"] or 0.0))
        co2e_g, co2_budget = self.co2e_g, self.budget.co2e_g
        if co2e_g is not None and co2_budget is not None and (not exceeded_only or "co2e" in self.exceeded):
            out.append(_sentence("CO2e", which, format_mass(co2e_g), format_mass(co2_budget),
                                 format_mass(abs(margin["co2e_g"] or 0.0)), margin["co2e_share"] or 0.0))
        if self.comparison is not None and (not exceeded_only or "increase" in self.exceeded):
            out.append(self.comparison.line())
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``green-estimate/check@1`` document."""
        return {
            "schema": "green-estimate/check@1",
            "verdict": self.verdict,
            "exceeded": self.exceeded,
            "model": self.prediction.get("model"),
            "config": self.config_path,
            "budget": self.budget.to_dict(),
            "predicted": {"energy_j": self.energy_j, "co2e_g": self.co2e_g, "compared": self.budget.compared},
            "margin": self.margin,
            "baseline": None if self.comparison is None else self.comparison.to_dict(),
            "prediction": self.prediction,
        }


def evaluate(prediction: Mapping[str, Any], budget: Budget, *, config_path: str | None = None,
             comparison: Comparison | None = None) -> Verdict:
    """Hold a ``predict@1`` dict against a budget (and, given one, its comparison with a baseline).

    With ``budget.conservative`` the upper end of ``total.energy_j_interval`` is compared; the CO2e
    upper end is ``total.co2e_g_interval[1]`` when the prediction has it, else the CO2e point scaled
    by the same upper/point energy ratio (CO2e is energy × a fixed grid intensity).

    Raises:
        BudgetError: a CO2e budget but the prediction has no CO2e (no grid intensity was given).
    """
    total = prediction["total"]
    point_j = float(total["energy_j"])
    energy_j = float(total["energy_j_interval"][1]) if budget.conservative else point_j
    co2e_g = total.get("co2e_g")
    if budget.co2e_g is not None and co2e_g is None:
        raise BudgetError(_NO_INTENSITY)
    if co2e_g is not None and budget.conservative:
        interval = total.get("co2e_g_interval")
        co2e_g = interval[1] if interval else co2e_g * (energy_j / point_j if point_j > 0 else 1.0)
    return Verdict(
        budget=budget,
        prediction=dict(prediction),
        energy_j=energy_j,
        co2e_g=None if co2e_g is None else float(co2e_g),
        config_path=config_path,
        comparison=comparison,
    )


def run_check(request: CheckRequest, predict_fn: PredictFn | None = None) -> Verdict:
    """Predict the training run of ``request`` and hold it against its budget.

    With a baseline (or a ``max_increase``, which implies the merge base) the same model spec and
    plan are priced at the base too (or read from a saved prediction), and the increase is held
    against ``budget.max_increase``.

    Args:
        request: model, budget, plan and baseline.
        predict_fn: the predictor; defaults to :func:`green_estimate.predict.predict`.

    Raises:
        BudgetError: a CO2e budget without ``grid_intensity`` or ``region``.
        BaselineError: no git repository or an unknown ref, a bad saved baseline, another profile.
        GreenEstimateError: whatever ``predict`` raises (a model that does not load, no profile...).
    """
    plan = request.plan
    if request.budget.co2e_g is not None and plan.get("grid_intensity") is None and plan.get("region") is None:
        raise BudgetError(_NO_INTENSITY)
    baseline = request.baseline
    if baseline is None and request.budget.max_increase is not None:
        baseline = BaselineRequest()
    # a bad saved baseline fails before the (slower) prediction
    saved = None if baseline is None or baseline.json_path is None else load_baseline_json(baseline.json_path)
    predict = predict_fn or default_predict_fn()
    prediction = predict(request.model, **plan).to_dict()
    comparison = None
    if baseline is not None:
        base = saved or baseline.fetch(request.model, plan, predict)
        comparison = compare(prediction, base, request.budget.max_increase)
    return evaluate(prediction, request.budget, config_path=request.config_path, comparison=comparison)


_NO_INTENSITY = (
    "a CO2e budget needs a grid carbon intensity: pass --grid-intensity (gCO2e/kWh, e.g. 400) or --region "
    "(e.g. DE), or set grid-intensity/region in [tool.green-estimate]"
)


def _sentence(what: str, which: str, value: str, limit: str, gap: str, share: float) -> str:
    percent = "<1%" if 0 < share < 0.01 else f"{share:.0%}"
    if share > 1.0:
        return f"{what} {which} {value} is over the {limit} budget by {gap} ({percent} of budget)"
    return f"{what} {which} {value} is within the {limit} budget ({percent} of budget)"
