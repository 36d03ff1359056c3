"""Writes docs/cli.md from the commands themselves, so the reference cannot drift from the code.

    python docs/gen_cli.py            # rewrite docs/cli.md
    python docs/gen_cli.py --check    # exit 1 if docs/cli.md is stale (the tests run this)
"""
from __future__ import annotations

import sys
from pathlib import Path

import typer

try:  # Typer ≥ 0.23 vendors Click as typer._click; older Typers depend on Click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef]

from green_estimate.cli.app import app

OUT = Path(__file__).with_name("cli.md")


def render() -> str:
    group = typer.main.get_command(app)
    ctx = click.Context(group, info_name="green-estimate")
    lines = ["# Command reference", "",
             "Generated from the commands by `python docs/gen_cli.py`; `green-estimate COMMAND --help` says the same.",
             "Errors go to stderr as one line and exit 1; usage errors (a bad option or value included) exit 2; "
             "`check` exits 2 on every error, as its 1 means over budget. A bug in the tool is one "
             "`internal error: …; rerun with --debug for the traceback` line; `--debug` anywhere on the "
             "command line shows the traceback.", ""]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        lines += [f"## `green-estimate {name}`", ""]
        help_text = (cmd.help or "").strip()
        lines += [line.rstrip() for line in help_text.splitlines()] + [""]
        rows = []
        for p in cmd.params:
            if p.name == "help":
                continue
            if getattr(p, "param_type_name", "") == "argument":
                label = "argument" + (" (one or more)" if p.nargs == -1 else "")
                rows.append((f"`{p.name.upper()}`", (f"{label}: " + (p.help or "")).replace("|", "\\|"), ""))
                continue
            opts = ", ".join(f"`{o}`" for o in [*p.opts, *getattr(p, "secondary_opts", [])])
            value = getattr(p.default, "value", p.default)  # an Enum's default as --help shows it
            default = "" if value in (None, False) or callable(value) else f"{value}"
            rows.append((opts, (p.help or "").replace("|", "\\|"), default))
        if rows:
            lines += ["| option | meaning | default |", "|---|---|---|"]
            lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/cli.md is stale: run python docs/gen_cli.py", file=sys.stderr)
            sys.exit(1)
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
