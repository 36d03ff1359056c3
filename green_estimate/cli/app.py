"""The ``green-estimate`` Typer app: registers the commands, nothing else.

Each command lives in its own module (``cli/count.py``, ``cli/meters.py``, ...) as a plain function
that parses options, calls one library function and renders the result.
"""
from __future__ import annotations

import typer

from green_estimate import __version__

app = typer.Typer(
    name="green-estimate",
    help=(
        "Predict the energy of training a PyTorch model before you train it.\n\n"
        "Example: green-estimate predict green_estimate/examples/simple_cnn.py --epochs 25"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"green-estimate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Predict the energy of training a PyTorch model before you train it."""


def _register() -> None:
    from green_estimate.cli import calibrate, check, count, meters, plan, predict, profiles, validate

    app.command("count")(count.count)
    app.command("meters")(meters.meters)
    app.command("calibrate")(calibrate.calibrate)
    app.command("predict")(predict.predict)
    app.command("profiles")(profiles.profiles)
    app.command("validate")(validate.validate)
    app.command("check")(check.check)
    app.command("plan")(plan.plan)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
