"""What every command shares: error handling, JSON output, stderr console.

Imports nothing heavy: ``green-estimate --help`` must not import torch.
"""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, TypeVar

import typer

from green_estimate.errors import GreenEstimateError

F = TypeVar("F", bound=Callable[..., Any])


def cli_errors(fn: F | None = None, *, exit_code: int | None = None) -> Any:
    """Turn a :class:`GreenEstimateError` into one line on stderr and its exit code.

    ``@cli_errors(exit_code=2)`` gives every such error one code (``check``: 1 means over budget).
    Unexpected exceptions are bugs: ``cli.app.main`` prints them as one ``internal error`` line.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except GreenEstimateError as e:
                typer.echo(f"Error: {e}", err=True)
                raise typer.Exit(exit_code if exit_code is not None else e.exit_code) from None
            except KeyboardInterrupt:
                typer.echo("Interrupted.", err=True)
                raise typer.Exit(130) from None

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def echo_json(data: dict) -> None:
    """Print a result dict as JSON on stdout (the stable interface for scripts)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stdout_console():  # -> rich.console.Console
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=False)


def stderr_console():  # -> rich.console.Console
    from rich.console import Console

    return Console(file=sys.stderr)


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"3,32,32"`` → ``(3, 32, 32)``; a bad shape is a usage error."""
    if text is None:
        return None
    from green_estimate.errors import UsageError

    parts = [p.strip() for p in text.split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"--input-shape {text!r} is not a shape: give the per-sample shape as integers, e.g. 3,32,32"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(f"--input-shape {text!r}: every dimension must be a positive integer, e.g. 3,32,32")
    return shape


def parse_target(text: str) -> str:
    """``--target gpu|cpu`` → the counter's ``cuda``/``cpu``; anything else is a usage error."""
    from green_estimate.errors import UsageError

    t = text.strip().lower()
    if t in ("gpu", "cuda"):
        return "cuda"
    if t == "cpu":
        return "cpu"
    raise UsageError(f"--target {text!r}: use gpu or cpu")
