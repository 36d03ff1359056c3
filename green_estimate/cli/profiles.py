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
    from green_estimate.profile import list_all_profiles, profiles_dir

    rows = list_all_profiles()
    if json_out:
        echo_json({"schema": "green-estimate/profiles@1", "profiles_dir": str(profiles_dir()), "profiles": rows})
        return
    from rich.table import Table

    t = Table(title=f"Profiles (local ones live in {profiles_dir()})", title_justify="left")
    for col in ("name", "origin", "device", "energy", "time", "meter"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], r["origin"], r["device"], r["provenance"], r.get("time_provenance", ""), r.get("meter", ""))
    stdout_console().print(t)
