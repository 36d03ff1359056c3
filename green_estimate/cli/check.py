"""`green-estimate check` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def check() -> None:
    """Not built yet."""
    raise typer.Exit(3)
