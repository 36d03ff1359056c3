"""Grid carbon intensity, offline: the packaged table (``data/grid_intensity.json``) or a user's number.

Nothing here goes online, and nothing defaults to some country: without ``region`` or
``grid_intensity`` there is no intensity, and CO2e stays unknown (``null`` in JSON) rather than
guessed. Intensities are grams of CO2-equivalent per kWh; energies are joules (1 kWh = 3.6e6 J).
"""
from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

from green_estimate.errors import UsageError

J_PER_KWH = 3.6e6
USER_SOURCE = "user-supplied (--grid-intensity)"


@dataclass(frozen=True)
class CarbonIntensity:
    """The intensity a CO2e figure uses, and where it came from.

    Attributes:
        g_per_kwh: grams CO2e per kWh.
        region: region code (``"DE"``), or None for a bare user-supplied number.
        source: dataset title, or ``"user-supplied (--grid-intensity)"``.
        year: the year the figure describes, or None when unknown (user-supplied).
    """

    g_per_kwh: float
    region: str | None
    source: str
    year: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"g_per_kwh": self.g_per_kwh, "region": self.region, "source": self.source, "year": self.year}


@dataclass(frozen=True)
class Region:
    """One row of the packaged table.

    Attributes:
        code: ISO 3166-1 alpha-2 code, or ``WORLD`` / ``EU27``.
        verified: True where the figure was checked against a copy of the source when the table was
            written; False where it was recalled from the same dataset (expect up to ~10 % off).
    """

    code: str
    name: str
    g_per_kwh: float
    year: int
    source: str
    url: str | None
    verified: bool
    aliases: tuple[str, ...] = ()
    note: str | None = None

    def intensity(self) -> CarbonIntensity:
        """This row as the :class:`CarbonIntensity` a prediction carries."""
        return CarbonIntensity(self.g_per_kwh, self.code, self.source, self.year)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "g_per_kwh": self.g_per_kwh, "year": self.year,
                "source": self.source, "url": self.url, "verified": self.verified,
                "aliases": list(self.aliases), "note": self.note}


def _read_table() -> dict[str, Any]:
    text = resources.files("green_estimate").joinpath("data/grid_intensity.json").read_text(encoding="utf-8")
    return json.loads(text)


def list_regions() -> list[Region]:
    """Every region of the packaged table, in table order (world and EU first)."""
    return [
        Region(code=r["code"], name=r["name"], g_per_kwh=float(r["g_co2e_per_kwh"]), year=int(r["year"]),
               source=r["source"], url=r.get("url"), verified=bool(r.get("verified", False)),
               aliases=tuple(r.get("aliases", ())), note=r.get("note"))
        for r in _read_table()["regions"]
    ]


def dataset_info() -> dict[str, Any]:
    """Title, URL, data year and caveats of the packaged table."""
    return dict(_read_table()["dataset"])


def _key(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split())


def find_region(region: str) -> Region:
    """The table row for a code, name or alias, case-insensitively.

    Raises:
        UsageError: unknown region; the message lists close matches and the ``--grid-intensity`` way out.
    """
    regions = list_regions()
    index: dict[str, Region] = {}
    for r in regions:
        for label in (r.code, r.name, *r.aliases):
            index.setdefault(_key(label), r)
    wanted = _key(region)
    if wanted in index:
        return index[wanted]
    close = difflib.get_close_matches(wanted, list(index), n=5, cutoff=0.6)
    suggestions = list(dict.fromkeys(f"{index[c].code} ({index[c].name})" for c in close))
    hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
    raise UsageError(
        f"Unknown grid region {region!r}.{hint} Known codes: {', '.join(r.code for r in regions)}. "
        "For anywhere else, give the number yourself: --grid-intensity 350 (g CO2e per kWh)."
    )


def grid_intensity_g_per_kwh(*, region: str | None = None,
                             grid_intensity: float | None = None) -> CarbonIntensity | None:
    """The carbon intensity to use, or None when the user gave neither a region nor a number.

    Args:
        region: a code, name or alias from :func:`list_regions` (``"de"``, ``"Germany"``, ``"UK"``).
        grid_intensity: grams CO2e per kWh; wins over ``region`` when both are given (the region is
            then only a label and need not be in the table).

    Raises:
        UsageError: unknown region, or a negative / non-finite intensity.

    Example:
        >>> grid_intensity_g_per_kwh(region="fr").g_per_kwh
        56.0
    """
    if grid_intensity is not None:
        value = float(grid_intensity)
        if not math.isfinite(value) or value < 0:
            raise UsageError("--grid-intensity must be a non-negative number of g CO2e per kWh, "
                             f"got {grid_intensity!r}.")
        return CarbonIntensity(value, _label(region), USER_SOURCE, None)
    if region is None or not region.strip():
        return None
    return find_region(region).intensity()


def _label(region: str | None) -> str | None:
    # With a user's number the region is only a label: canonicalise it if we know it, else keep it.
    if region is None or not region.strip():
        return None
    try:
        return find_region(region).code
    except UsageError:
        return region.strip()


def co2e_g(energy_j: float, intensity: CarbonIntensity | float) -> float:
    """Grams CO2e of ``energy_j`` joules at an intensity (a :class:`CarbonIntensity` or g/kWh).

    Example:
        >>> co2e_g(3.6e6, 400.0)  # 1 kWh at 400 g/kWh
        400.0
    """
    g_per_kwh = intensity.g_per_kwh if isinstance(intensity, CarbonIntensity) else float(intensity)
    return energy_j / J_PER_KWH * g_per_kwh
