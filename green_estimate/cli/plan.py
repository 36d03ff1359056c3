"""`green-estimate plan`: the energy of a whole hyper-parameter sweep, before it runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from green_estimate.cli.common import cli_errors, echo_json, stdout_console

if TYPE_CHECKING:
    from green_estimate.sweep_plan import SweepPlan


@cli_errors
def plan(
    sweep: Annotated[Path, typer.Argument(
        help="Sweep file (.toml, .yaml): model, strategy, trials, epochs, samples and the search space; "
             "see docs/ci.md.",
        show_default=False)],
    budget: Annotated[str | None, typer.Option(
        help="Energy budget for the whole sweep, e.g. 50kWh; exit 1 when the sweep is over it.")] = None,
    conservative: Annotated[bool, typer.Option(
        "--conservative",
        help="Hold the budget to the upper end (summed intervals, or 95th percentile) instead of the total.")] = False,
    draws: Annotated[int, typer.Option(help="Simulated sweeps behind a sampled total's range.", min=10)] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the simulation.")] = 0,
    max_configs: Annotated[int, typer.Option(
        help="Most distinct cost-relevant configurations to predict.", min=1)] = 256,
    profile: Annotated[str | None, typer.Option(help="Calibration profile (name or path).")] = None,
    confidence: Annotated[float | None, typer.Option(
        help="Prediction-interval confidence (default 0.9).", min=0.0, max=1.0)] = None,
    grid_intensity: Annotated[float | None, typer.Option(help="Grid carbon intensity in gCO2e/kWh.")] = None,
    region: Annotated[str | None, typer.Option(help="Grid region for the carbon intensity, e.g. DE.")] = None,
    top: Annotated[int, typer.Option(help="Configurations to list, most expensive first.", min=1)] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="Print the green-estimate/plan@1 JSON.")] = False,
) -> None:
    """Predict the energy of every configuration of a sweep, and of the whole sweep.

    A grid is priced exactly (the sum over its points); a random or Bayesian search gets its
    expected total and a range from simulated draws of its trials. Profile, confidence, region
    and grid intensity default to the tool.green-estimate section in the nearest pyproject.toml.

    Example: green-estimate plan sweep.toml --budget 50kWh
    """
    from green_estimate.budget import Budget
    from green_estimate.sweep_plan import plan_file

    result = plan_file(sweep, cwd=Path.cwd(), budget=None if budget is None else Budget.parse(budget, conservative=conservative),
                       draws=draws, seed=seed, max_configs=max_configs, profile=profile, confidence=confidence,
                       grid_intensity=grid_intensity, region=region)
    if json_output:
        echo_json(result.to_dict())
    else:
        _text(result, top)
    verdict = result.budget_verdict
    if verdict is not None and not verdict.passed:
        typer.echo("Over budget: " + "; ".join(verdict.lines(exceeded_only=True)), err=True)
        raise typer.Exit(1)


def _text(result: SweepPlan, top: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from green_estimate.units import format_energy, format_mass

    s, console = result.sweep, stdout_console()
    size = f"{result.trials} trials" + (f" of a {result.grid_size}-point grid" if not result.exact and result.grid_size
                                        else " (the whole grid)" if result.exact else "")
    data = f"{s.samples} samples" if s.samples else f"{s.steps} steps"
    console.print(f"[bold]{escape(s.path or 'sweep')}[/]: {s.strategy} search, {size}, {escape(s.model)} "
                  f"({s.epochs} epochs, {data})")
    low, high = result.energy_j_range
    if result.exact:
        console.print(f"Total energy     [bold]{format_energy(result.energy_j)}[/] (sum over every grid point; "
                      f"intervals summed: {format_energy(low)} – {format_energy(high)})")
    else:
        cheap, dear = result.energy_j_possible
        console.print(f"Expected energy  [bold]{format_energy(result.energy_j)}[/] ({format_energy(low)} – "
                      f"{format_energy(high)}, 5th–95th percentile of {result.draws} simulated sweeps)")
        console.print(f"Possible         {format_energy(cheap)} – {format_energy(dear)} (cheapest / dearest draws)")
    extra = f", {format_mass(result.co2e_g)} CO2e" if result.co2e_g is not None else ""
    console.print(f"Training time    {_duration(result.time_s)}{extra}")
    table = Table(title=f"Configurations, most expensive first ({min(top, len(result.configurations))} of "
                        f"{len(result.configurations)} priced)")
    table.add_column("configuration")
    for column in ("steps", "energy per run", "trials", "share"):
        table.add_column(column, justify="right", no_wrap=True)
    rows = result.to_dict()["configurations"]
    for row in rows[:top]:
        table.add_row(escape(_params(row["params"])), str(row["steps"]), format_energy(row["energy_j"]),
                      f"{row['trials']:.3g}", f"{row['share']:.0%}")
    console.print(table)
    for label, row in (("Most expensive", rows[0]), ("Least expensive", rows[-1])):
        console.print(f"{label}: {escape(_params(row['params']))}, {format_energy(row['energy_j'])} per run")
    for note in result.notes:
        console.print(f"Note: {escape(note.rstrip('.'))}.")
    verdict = result.budget_verdict
    if verdict is not None:
        color = "green" if verdict.passed else "red"
        console.print(f"[bold {color}]Budget {verdict.verdict.upper()}[/]: {'; '.join(verdict.lines())}")


def _params(params: dict) -> str:
    # "model.width" is a build_model argument: shown by its own name
    return ", ".join(f"{k.removeprefix('model.')}={v}" for k, v in params.items()) or "(every trial costs the same)"


def _duration(time_s: float) -> str:
    for unit, size in (("h", 3600.0), ("min", 60.0)):
        if time_s >= size:
            return f"{time_s / size:.3g} {unit}"
    return f"{time_s:.3g} s"
