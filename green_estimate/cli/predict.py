"""`green-estimate predict` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def predict() -> None:
    """Not built yet."""
    raise typer.Exit(3)
