"""The ``green-estimate`` Typer app: registers the commands, nothing else.

Each command lives in its own module (``cli/count.py``, ``cli/meters.py``, ...) as a plain function
that parses options, calls one library function and renders the result.
"""
from __future__ import annotations

import inspect
import sys

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
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an internal error (anywhere on the line)."),
) -> None:
    """Predict the energy of training a PyTorch model before you train it."""


def flowed_help(doc: str | None) -> str:
    r"""A command's docstring as its ``--help`` shows it: each paragraph one line, each example its own.

    Typer's rich help keeps a docstring's single line breaks after the first paragraph, so lines
    wrapped for the source would print ragged at any terminal width; rich wraps the joined lines.

    Example:
        >>> flowed_help("Do it.\n\nFirst half\nsecond half.\n\nExample: a\nExample: b")
        'Do it.\n\nFirst half second half.\n\nExample: a\nExample: b'
    """
    paragraphs = []
    for paragraph in inspect.cleandoc(doc or "").split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not line.startswith("Example:"):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def _register() -> None:
    from green_estimate.cli import calibrate, check, count, meters, plan, predict, probe, profiles, validate

    for name, fn in (("count", count.count), ("meters", meters.meters), ("calibrate", calibrate.calibrate),
                     ("predict", predict.predict), ("profiles", profiles.profiles), ("probe", probe.probe),
                     ("validate", validate.validate), ("check", check.check), ("plan", plan.plan)):
        app.command(name, help=flowed_help(fn.__doc__))(fn)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app with one line for every error, never a traceback.

    Option-parser mistakes print one ``Error:`` line (exit 2), like every other usage error. An
    unexpected exception is a bug: one ``internal error`` line, exit 1 (2 for ``check``, whose 1
    means "over budget"); ``--debug`` anywhere on the command line shows its traceback instead.
    """
    try:  # Typer >= 0.20 carries its own copy of click; older ones use click itself
        from typer import _click as click
    except ImportError:  # pragma: no cover - depends on the Typer version
        import click  # type: ignore[no-redef]

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        code = app(args=args, prog_name="green-estimate", standalone_mode=False)
    except click.exceptions.ClickException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `green-estimate` alone: Typer printed the help
            sys.exit(e.exit_code)
        hint = ""
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            hint = f" (see `{ctx.command_path} --help`)"
        typer.echo(f"Error: {e.format_message()}{hint}", err=True)
        code = e.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        code = 1
    except BrokenPipeError:  # `green-estimate profiles | head`
        code = 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, in one line
        if debug:
            raise
        text = " ".join(str(e).split()) or "(no message)"
        typer.echo(f"internal error: {type(e).__name__}: {text}; rerun with --debug for the traceback", err=True)
        code = 2 if _command(args) == "check" else 1
    sys.exit(code if isinstance(code, int) else 0)


def _command(args: list[str]) -> str | None:
    """The sub-command named on the command line (the first word that is not an option)."""
    return next((a for a in args if not a.startswith("-")), None)
