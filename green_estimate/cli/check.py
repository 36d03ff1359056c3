"""`green-estimate check`: a CI gate that fails when training a model would exceed an energy budget."""
from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from green_estimate.cli.common import cli_errors, echo_json, parse_shape, stdout_console
from green_estimate.cli.render import pct

if TYPE_CHECKING:
    from green_estimate.verdict import Verdict


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    github = "github"


@cli_errors(exit_code=2)
def check(
    model: Annotated[str | None, typer.Argument(
        help="MODEL: path/to/file.py[:name] or package.module[:name]. "
             "Default: model in the tool.green-estimate section.",
        show_default=False)] = None,
    budget: Annotated[str | None, typer.Option(
        help="Energy budget: a number and a unit (J, kJ, MJ, GJ, Wh, kWh, MWh, GWh), e.g. 2kWh.")] = None,
    co2_budget: Annotated[str | None, typer.Option(
        help="CO2e budget in g, kg or t, e.g. 500g; needs --grid-intensity or --region.")] = None,
    max_increase: Annotated[str | None, typer.Option(
        help="Largest allowed increase over the baseline, e.g. 10%. The baseline is --baseline or "
             "--baseline-json; without either, the merge base of HEAD with the default branch.")] = None,
    baseline: Annotated[str | None, typer.Option(
        help="Git ref to price the same model and plan at (branch, tag, commit), e.g. origin/main. "
             "Default with --max-increase: the merge base with origin/HEAD, else main or master.")] = None,
    baseline_json: Annotated[Path | None, typer.Option(
        help="A saved prediction to compare with instead of a git ref: the output of predict --json "
             "(or check --json).", dir_okay=False)] = None,
    conservative: Annotated[bool | None, typer.Option(
        "--conservative/--point",
        help="Compare the upper end of the prediction interval (--conservative) or the point estimate.",
        show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 64).", min=1)] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default 1).", min=1)] = None,
    samples: Annotated[int | None, typer.Option(help="Training-set size (samples per epoch).", min=1)] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps in all (instead of --samples).", min=1)] = None,
    optimizer: Annotated[str | None, typer.Option(help="adam, adamw, sgd or none (default adam).")] = None,
    input_shape: Annotated[str | None, typer.Option(help="Per-sample input shape, e.g. 3,32,32.")] = None,
    input_dtype: Annotated[str | None, typer.Option(help="dtype of the input, e.g. int64 for token ids.")] = None,
    vocab_size: Annotated[int | None, typer.Option(help="Random token ids are drawn below this.", min=1)] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Micro-batches per optimizer step (default 1).")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPUs training data-parallel, in all (default 1).")] = None,
    nodes: Annotated[int | None, typer.Option(help="Machines the GPUs are spread over (default 1).")] = None,
    interconnect: Annotated[str | None, typer.Option(
        help="Links INTRA[,INTER], e.g. nvlink4,ib-ndr (see predict --help).")] = None,
    fsdp: Annotated[bool | None, typer.Option(
        "--fsdp/--ddp", help="Sharded (FSDP / ZeRO-3) or replicated (DDP, the default) data parallelism.",
        show_default=False)] = None,
    overlap: Annotated[float | None, typer.Option(
        help="Fraction of overlappable compute hiding communication (default 0.5).")] = None,
    profile: Annotated[str | None, typer.Option(help="Calibration profile (name or path).")] = None,
    precision: Annotated[str | None, typer.Option(
        help="fp32, tf32, bf16 or fp16 (default fp32; bf16/fp16: autocast mixed precision); the profile must price it.")] = None,
    confidence: Annotated[float | None, typer.Option(
        help="Prediction-interval confidence (default 0.9).", min=0.0, max=1.0)] = None,
    grid_intensity: Annotated[float | None, typer.Option(help="Grid carbon intensity in gCO2e/kWh.")] = None,
    region: Annotated[str | None, typer.Option(help="Grid region for the carbon intensity, e.g. DE.")] = None,
    output_format: Annotated[Format, typer.Option(
        "--format", help="text, json, markdown (PR comments) or github (annotations + step summary).")] = Format.text,
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="pyproject.toml to read the tool.green-estimate section from. "
             "Default: the nearest one that has it.")] = None,
) -> None:
    """Exit 0 when training MODEL fits the budget, 1 when it does not, 2 on any error.

    Exit 2 covers every error: a bad option, a model that will not load, a bad profile or budget.

    The budget is absolute (--budget, --co2-budget), relative to a baseline (--max-increase), or both;
    the verdict says which limit failed. A plan is required: --samples (with --epochs) or --steps.
    Options left out come from the tool.green-estimate section in the nearest pyproject.toml, so a CI
    step can be just `green-estimate check --format github`.

    Example: green-estimate check model.py --budget 2kWh --epochs 25 --samples 60000

    Example: green-estimate check model.py --max-increase 10% --baseline origin/main --epochs 25 --samples 60000
    """
    from green_estimate.check import check as run_check

    options = {
        "model": model, "budget": budget, "co2_budget": co2_budget, "conservative": conservative,
        "max_increase": max_increase, "baseline": baseline,
        "baseline_json": None if baseline_json is None else str(baseline_json),
        "batch_size": batch_size, "epochs": epochs, "samples": samples, "steps": steps, "optimizer": optimizer,
        "input_shape": parse_shape(input_shape), "input_dtype": input_dtype, "vocab_size": vocab_size,
        "profile": profile, "precision": precision, "confidence": confidence, "grad_accum": grad_accum,
        "gpus": gpus, "nodes": nodes, "interconnect": interconnect, "fsdp": fsdp, "overlap": overlap,
        "grid_intensity": grid_intensity, "region": region,
    }
    verdict = run_check(options, cwd=Path.cwd(), config=config)
    fmt = Format.json if json_output else output_format
    if fmt is Format.json:
        echo_json(verdict.to_dict())
    elif fmt is Format.markdown:
        typer.echo(_markdown(verdict))
    elif fmt is Format.github:
        _github(verdict)
    else:
        _text(verdict)
    if not verdict.passed:
        typer.echo("Over budget: " + "; ".join(verdict.lines(exceeded_only=True)), err=True)
        raise typer.Exit(1)


def _markdown(verdict: Verdict) -> str:
    """The verdict as GitHub-flavoured markdown (a PR comment or a job summary)."""
    from green_estimate.report_markdown import comparison_markdown
    from green_estimate.units import format_energy, format_mass

    prediction = verdict.prediction
    basis = "upper end of interval" if verdict.budget.conservative else "point estimate"
    title = "✅ Training fits the energy budget" if verdict.passed else "❌ Training is over the energy budget"
    rows = [f"### {title}", "", f"| | predicted ({basis}) | budget | used |", "|---|---:|---:|---:|"]
    margin = verdict.margin
    if verdict.budget.energy_j is not None:
        rows.append(f"| Energy | {format_energy(verdict.energy_j)} | {format_energy(verdict.budget.energy_j)} "
                    f"| {pct(margin['energy_share'])} |")
    if verdict.budget.co2e_g is not None and verdict.co2e_g is not None:
        rows.append(f"| CO2e | {format_mass(verdict.co2e_g)} | {format_mass(verdict.budget.co2e_g)} "
                    f"| {pct(margin['co2e_share'])} |")
    comparison = verdict.comparison
    if comparison is not None and verdict.budget.max_increase is not None:
        change = "no baseline" if comparison.increase is None else f"{100 * comparison.increase:+.1f}%"
        rows.append(f"| Increase over base (point estimate) | {change} | {100 * verdict.budget.max_increase:g}% | – |")
    if comparison is not None:
        rows += ["", f"{comparison.line()}  "]
    rows += ["", *(f"{line}  " for line in _details(prediction))]
    if verdict.config_path:
        rows.append(f"Defaults from `{_relative(verdict.config_path)}`  ")
    if comparison is not None:
        rows += ["", comparison_markdown(comparison.to_dict(), prediction)]
    return "\n".join(rows).rstrip() + "\n"


def _details(prediction: dict) -> list[str]:
    """Model, plan, interval and profile of a prediction, one line each."""
    from green_estimate.units import format_energy

    plan, total, prof = prediction.get("plan", {}), prediction["total"], prediction.get("profile") or {}
    low, high = total["energy_j_interval"]
    confidence = prediction.get("confidence")
    level = f"{confidence:.0%} " if isinstance(confidence, (int, float)) else ""
    run = [f"batch {plan.get('batch_size')}"]
    if (plan.get("grad_accum") or 1) > 1:
        run.append(f"{plan['grad_accum']} micro-batches per step")
    if (plan.get("gpus") or 1) > 1:
        run.append(f"{plan['gpus']} GPUs")
    if plan.get("epochs"):
        run.append(f"{plan['epochs']} epoch{'s' if plan['epochs'] != 1 else ''}")
    if plan.get("samples"):
        run.append(f"{plan['samples']} samples")
    lines = [
        f"Model `{prediction.get('model')}`: {plan.get('steps')} steps ({', '.join(run)})",
        f"Predicted {format_energy(total['energy_j'])}, {level}interval {format_energy(low)} – {format_energy(high)}",
    ]
    if prof:
        lines.append(f"Profile {prof.get('name')} on {prof.get('device')} ({prof.get('provenance')})")
    # predict's caveats (no --samples, a profile of another device...) must reach the CI log too
    return lines + [f"Note: {note}" for note in prediction.get("notes") or []]


def _text(verdict: Verdict) -> None:
    from rich.panel import Panel
    from rich.text import Text

    color = "green" if verdict.passed else "red"
    body = "\n".join([*verdict.lines(), "", *_details(verdict.prediction), *_class_changes(verdict)]).replace("`", "")
    if verdict.config_path:
        body += f"\nDefaults from {_relative(verdict.config_path)}"
    title = f"[bold {color}]Energy budget: {verdict.verdict.upper()}[/]"
    stdout_console().print(Panel(Text(body), title=title, border_style=color, expand=False))


def _class_changes(verdict: Verdict) -> list[str]:
    """Energy per step by class, base → head, for the text panel."""
    from green_estimate.cli.render import si

    comparison = verdict.comparison
    if comparison is None or comparison.base.prediction is None:
        return []
    base = comparison.base.prediction.get("profile") or {}
    out = ["", f"Base {comparison.base.label}, profile {base.get('name')} ({base.get('provenance')}); per step:"]
    for row in comparison.classes():
        change = "–" if row["energy_j_change"] is None else f"{100 * row['energy_j_change']:+.1f}%".replace("+0.0%", "±0.0%")
        out.append(f"  {row['class']:<12} {si(row['base_energy_j'], 'J'):>10} → {si(row['head_energy_j'], 'J'):>10}  {change}")
    return out + [f"Note: {note}" for note in comparison.notes]


def _github(verdict: Verdict) -> None:
    """Workflow commands for annotations; the markdown summary goes to $GITHUB_STEP_SUMMARY."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(_markdown(verdict) + "\n")
    level, title = ("notice", "Energy budget") if verdict.passed else ("error", "Energy budget exceeded")
    message = "; ".join(verdict.lines())
    typer.echo(f"::{level} title={_escape(title, prop=True)}::{_escape(message)}")


def _escape(text: str, *, prop: bool = False) -> str:
    """Escape a GitHub workflow-command value (properties also escape ':' and ',')."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
