"""`green-estimate profiles` (placeholder while it is being built)."""
from __future__ import annotations

import typer


def profiles() -> None:
    """Not built yet."""
    raise typer.Exit(3)
