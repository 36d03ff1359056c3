"""`green-estimate meters` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def meters() -> None:
    """Not built yet."""
    raise typer.Exit(3)
