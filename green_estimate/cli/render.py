"""Human formatting shared by the commands (numbers with SI prefixes, rich tables)."""
from __future__ import annotations

from green_estimate.units import si  # noqa: F401  (the one SI formatter; commands import it from here)


def binary_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    v = float(n)
    for factor, prefix in ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if abs(v) >= factor:
            return f"{v / factor:.1f} {prefix}B"
    return f"{v:.0f} B"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"
