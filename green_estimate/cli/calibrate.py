"""`green-estimate calibrate` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def calibrate() -> None:
    """Not built yet."""
    raise typer.Exit(3)
