"""Energy and CO2e budgets: what ``check`` and ``plan`` hold a prediction to (see :mod:`green_estimate.verdict`).

A budget holds an energy limit, a CO2e limit (SI units), a limit on the increase over a baseline
(see :mod:`green_estimate.baseline`), or any of them together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from green_estimate.baseline import parse_increase
from green_estimate.errors import BudgetError
from green_estimate.units import energy_kwh, parse_energy_j, parse_mass_g

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
