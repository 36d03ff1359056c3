"""`green-estimate plan` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def plan() -> None:
    """Not built yet."""
    raise typer.Exit(3)
