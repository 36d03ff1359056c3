"""The verdict of a predicted cost against a :class:`~green_estimate.budget.Budget` (``check``, ``plan``).

The verdict compares the prediction's point estimate or, with ``conservative``, the upper end of its
prediction interval: a CI gate that must not let an over-budget change through even when the model
errs low. The relative limit always compares point estimates (both sides share one calibration).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from green_estimate.baseline import Comparison
from green_estimate.budget import Budget
from green_estimate.errors import BudgetError
from green_estimate.units import format_energy, format_mass

NO_INTENSITY = (
    "a CO2e budget needs a grid carbon intensity: pass --grid-intensity (gCO2e/kWh, e.g. 400) or --region "
    "(e.g. DE), or set grid-intensity/region in [tool.green-estimate]"
)


@dataclass(frozen=True)
class Verdict:
    """A predicted cost held against a budget: one training run (``check``) or a whole sweep (``plan``).

    Attributes:
        budget: the limits.
        energy_j: the predicted energy that was compared (point or interval upper bound), J.
        co2e_g: the predicted CO2e that was compared, g, or None without an intensity.
        prediction: the ``prediction@1`` dict of a checked run, None for a sweep.
        config_path: the pyproject.toml the defaults came from, if any.
        comparison: the prediction against a baseline, or None.
        subject: what was compared, in words (default ``energy prediction`` or ``energy upper bound``).
    """

    budget: Budget
    energy_j: float
    co2e_g: float | None = None
    prediction: dict[str, Any] | None = None
    config_path: str | None = None
    comparison: Comparison | None = None
    subject: str | None = None

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
        subject = self.subject or f"energy {which}"
        if self.budget.energy_j is not None and (not exceeded_only or "energy" in self.exceeded):
            gap = format_energy(abs(margin["energy_j"] or 0.0), like=max(self.energy_j, self.budget.energy_j))
            out.append(_sentence(subject, format_energy(self.energy_j), format_energy(self.budget.energy_j),
                                 gap, margin["energy_share"] or 0.0))
        co2e_g, co2_budget = self.co2e_g, self.budget.co2e_g
        if co2e_g is not None and co2_budget is not None and (not exceeded_only or "co2e" in self.exceeded):
            out.append(_sentence(f"CO2e {which}", format_mass(co2e_g), format_mass(co2_budget),
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
            "model": (self.prediction or {}).get("model"),
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
        raise BudgetError(NO_INTENSITY)
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


def _sentence(subject: str, value: str, limit: str, gap: str, share: float) -> str:
    percent = "<1%" if 0 < share < 0.01 else f"{share:.0%}"
    if share > 1.0:
        return f"{subject} {value} is over the {limit} budget by {gap} ({percent} of budget)"
    return f"{subject} {value} is within the {limit} budget ({percent} of budget)"
