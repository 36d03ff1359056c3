"""``green-estimate profiles``: every profile this tool can price with, and where it came from."""
from __future__ import annotations

from typing import Annotated

import typer

from green_estimate.cli.common import cli_errors, echo_json, stdout_console


@cli_errors
def profiles(
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List calibrated (local), shipped and datasheet profiles with their provenance.

    Example: green-estimate profiles
    """
    from green_estimate.profile_store import list_all_profiles, profiles_dir

    rows = list_all_profiles()
    if json_out:
        echo_json({"schema": "green-estimate/profiles@1", "profiles_dir": str(profiles_dir()), "profiles": rows})
        return
    from rich.table import Table

    t = Table(title=f"Profiles (local ones live in {profiles_dir()})", title_justify="left")
    # the name is what --profile takes: never cut or wrapped, so the table is as wide as it needs
    t.add_column("name (for --profile)", no_wrap=True)
    for col in ("origin", "device", "energy", "time", "meter"):
        t.add_column(col, no_wrap=True)
    t.add_column("source")
    for r in rows:
        t.add_row(_ref(r), r["origin"], r["device"], r["provenance"], r.get("time_provenance", ""), r.get("meter", ""),
                  r.get("source", ""))
    from rich.measure import Measurement

    console = stdout_console()
    console.width = max(console.width, Measurement.get(console, console.options.update_width(10_000), t).maximum)
    console.print(t)
    if rows:
        console.print(f"Use one with --profile NAME, e.g. green-estimate predict model.py --profile {_ref(rows[0])}",
                      soft_wrap=True)


def _ref(row: dict) -> str:
    """What --profile takes for a row: its name, ``datasheet:`` before a datasheet one's."""
    name = row["name"]
    return name if row["origin"] != "datasheet" or name.startswith("datasheet:") else f"datasheet:{name}"
