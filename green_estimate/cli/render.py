"""Human formatting shared by the commands (numbers with SI prefixes, rich tables)."""
from __future__ import annotations


def si(value: float | None, unit: str = "", digits: int = 3) -> str:
    """``1.5e9, "FLOP"`` → ``"1.50 GFLOP"``."""
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


def binary_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    v = float(n)
    for factor, prefix in ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if abs(v) >= factor:
            return f"{v / factor:.1f} {prefix}B"
    return f"{v:.0f} B"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"
