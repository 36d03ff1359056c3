"""`green-estimate meters`: which energy meters work here, and how to fix those that don't."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from green_estimate.cli.common import cli_errors, echo_json, stdout_console

if TYPE_CHECKING:
    from green_estimate.meters.probe import MeterReport


@cli_errors
def meters(
    gpu: Annotated[int, typer.Option("--gpu", help="Visible GPU index to probe (after CUDA_VISIBLE_DEVICES).")] = 0,
    json_: Annotated[bool, typer.Option("--json", help="Print the report as JSON (schema green-estimate/meters@1).")] = False,
) -> None:
    """Show which energy meters work on this machine, and for the others why not and how to fix it.

    Always exits 0: it is a diagnosis.

    Example: green-estimate meters --gpu 0 --json
    """
    from green_estimate.meters.probe import diagnose_meters

    report = diagnose_meters(gpu_index=gpu)
    if json_:
        echo_json(report.to_dict())
        return
    _render(report)


def _render(report: MeterReport) -> None:
    from rich.table import Table

    table = Table(title="Energy meters", show_lines=True, expand=True)
    for column in ("backend", "status", "provenance"):
        table.add_column(column, no_wrap=True)
    table.add_column("device", ratio=1, overflow="fold")
    table.add_column("reason / fix", ratio=2, overflow="fold")
    for status in report.meters:
        ok = status.available
        notes = status.details.get("power_source", "") if ok else status.reason
        if status.fix:
            notes += f"\n[bold]Fix:[/bold] {status.fix}"
        for warning in status.details.get("warnings", []):
            notes += f"\n[yellow]Note:[/yellow] {warning}"
        table.add_row(
            status.name + (" (best)" if status.name == report.best else ""),
            "[green]ok[/green]" if ok else "[red]unavailable[/red]",
            status.provenance,
            status.device or "-",
            notes,
        )
    console = stdout_console()
    console.print(table)
    best = next(s for s in report.meters if s.name == report.best)
    console.print(f"Best meter here: [bold]{best.name}[/bold] ({best.provenance}).")
