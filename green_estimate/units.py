"""Energy and mass quantities as people write them ("2kWh", "500 g") and as the tool prints them.

Parsing returns SI base units: joules for energy, grams for CO2e mass. Budgets must be positive
and must carry a unit: a bare ``2`` could be joules or kilowatt-hours, a factor of 3.6 million.

Case rules: unit names are matched case-insensitively ("kwh", "KWH" and "kWh" are the same),
except that a lowercase ``m`` prefix is refused: in SI it means *milli*, so ``mWh`` and ``mJ`` are
milli-units, and reading them as mega (or silently as milli) would be off by a factor of 10⁹ from
what the writer probably meant. Write ``MWh`` / ``MJ``.
"""
from __future__ import annotations

import math
import re

from green_estimate.errors import BudgetError

J_PER_WH = 3600.0

#: Accepted energy units and their size in joules.
ENERGY_UNITS_J: dict[str, float] = {
    "J": 1.0,
    "kJ": 1e3,
    "MJ": 1e6,
    "GJ": 1e9,
    "Wh": J_PER_WH,
    "kWh": 1e3 * J_PER_WH,
    "MWh": 1e6 * J_PER_WH,
    "GWh": 1e9 * J_PER_WH,
}

#: Accepted mass units (of CO2-equivalent) and their size in grams.
MASS_UNITS_G: dict[str, float] = {"g": 1.0, "kg": 1e3, "t": 1e6}

# Lowercase spellings refused because "m" is the SI prefix for milli, mapped to what to write instead.
_MEGA = {"mj": "MJ", "mwh": "MWh"}
# A CO2e mass may name the gas after the unit: "500 gCO2e", "2 kg CO2eq".
_CO2_SUFFIX = re.compile(r"\s*co2(e|eq)?$", re.IGNORECASE)
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")


def parse_energy_j(text: str | float | int, *, what: str = "energy") -> float:
    """Parse an energy such as ``"2kWh"`` or ``"2.5 MJ"`` into joules.

    Args:
        text: a positive number followed by one of J, kJ, MJ, GJ, Wh, kWh, MWh, GWh.
        what: how the caller names the value in messages (``"--budget"``).

    Returns:
        The energy in joules, e.g. ``parse_energy_j("2kWh") == 7.2e6``.

    Raises:
        BudgetError: no unit, an unknown or ambiguous unit, or a value that is not positive.
    """
    value, unit = _split(text, what=what, kind="an energy", example="2kWh", units=ENERGY_UNITS_J)
    if unit[:1] == "m" and unit.lower() in _MEGA:
        raise BudgetError(
            f"{what} {str(text).strip()!r}: a lowercase 'm' means milli; write {_MEGA[unit.lower()]!r} "
            f"for mega (units: {_listing(ENERGY_UNITS_J)})"
        )
    return value * _lookup(text, unit, what=what, kind="an energy", example="2kWh", units=ENERGY_UNITS_J)


def parse_mass_g(text: str | float | int, *, what: str = "mass") -> float:
    """Parse a CO2e mass such as ``"500g"``, ``"5 kg"`` or ``"1.2 tCO2e"`` into grams.

    Args:
        text: a positive number followed by g, kg or t (optionally followed by ``CO2e``).
        what: how the caller names the value in messages (``"--co2-budget"``).

    Returns:
        The mass in grams, e.g. ``parse_mass_g("5kg") == 5000.0``.

    Raises:
        BudgetError: no unit, an unknown unit, or a value that is not positive.
    """
    stripped = _CO2_SUFFIX.sub("", str(text).strip())
    value, unit = _split(stripped, what=what, kind="a mass", example="500g", units=MASS_UNITS_G, shown=text)
    return value * _lookup(text, unit, what=what, kind="a mass", example="500g", units=MASS_UNITS_G)


def format_energy(energy_j: float, *, like: float | None = None) -> str:
    """An energy for humans: J, kJ or MJ below one kilowatt-hour, kWh, MWh or GWh above.

    Args:
        energy_j: the energy.
        like: pick the unit this energy would get instead (so a margin reads in its budget's unit).

    Example: ``format_energy(6400.0) == "6.4 kJ"``, ``format_energy(1.8e6, like=7.2e6) == "0.5 kWh"``.
    """
    size = abs(energy_j if like is None else like)
    for unit, below in (("J", 1e3), ("kJ", 1e6), ("MJ", ENERGY_UNITS_J["kWh"]), ("kWh", ENERGY_UNITS_J["MWh"]),
                        ("MWh", ENERGY_UNITS_J["GWh"])):
        if size < below:
            return f"{_digits(energy_j / ENERGY_UNITS_J[unit])} {unit}"
    return f"{_digits(energy_j / ENERGY_UNITS_J['GWh'])} GWh"


def format_mass(mass_g: float) -> str:
    """A CO2e mass for humans: ``format_mass(1500.0) == "1.5 kg"``."""
    size = abs(mass_g)
    for unit, below in (("g", 1e3), ("kg", 1e6)):
        if size < below:
            return f"{_digits(mass_g / MASS_UNITS_G[unit])} {unit}"
    return f"{_digits(mass_g / MASS_UNITS_G['t'])} t"


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """A number with an SI prefix, the one formatter of reports and tables: ``si(1.5e9, "FLOP")``
    → ``"1.5 GFLOP"``, ``si(2e-5, "s")`` → ``"20 µs"``, ``si(None)`` → ``"–"``."""
    if value is None:
        return "–"
    v = float(value)
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:.{digits}g} {prefix}{unit}".strip()
    if v != 0 and abs(v) < 1:
        for factor, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
            if abs(v) >= factor:
                return f"{v / factor:.{digits}g} {prefix}{unit}".strip()
    return f"{v:.{digits}g} {unit}".strip()


def _digits(value: float) -> str:
    """Three significant digits, never in exponent notation (999.7 → "1000", 12345 → "12345")."""
    text = f"{value:.3g}"
    return f"{value:.0f}" if "e" in text else text


def energy_kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return energy_j / ENERGY_UNITS_J["kWh"]


def _split(
    text: str | float | int, *, what: str, kind: str, example: str, units: dict[str, float], shown: object = None
) -> tuple[float, str]:
    shown = text if shown is None else shown
    match = _QUANTITY.match(str(text))
    if match is None:
        raise BudgetError(
            f"{what} {str(shown).strip()!r} is not {kind}: write a positive number and a unit, "
            f"e.g. {example} (units: {_listing(units)})"
        )
    value, unit = float(match.group(1)), match.group(2)
    if not unit:
        raise BudgetError(f"{what} {str(shown).strip()!r} has no unit: write e.g. {example} (units: {_listing(units)})")
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"{what} {str(shown).strip()!r} must be a positive, finite amount, e.g. {example}")
    return value, unit


def _lookup(text: object, unit: str, *, what: str, kind: str, example: str, units: dict[str, float]) -> float:
    if unit in units:
        return units[unit]
    folded = {name.lower(): size for name, size in units.items()}
    if unit.lower() in folded:
        return folded[unit.lower()]
    raise BudgetError(
        f"{what} {str(text).strip()!r}: unknown unit {unit!r} for {kind}; use one of {_listing(units)}, e.g. {example}"
    )


def _listing(units: dict[str, float]) -> str:
    return ", ".join(units)
