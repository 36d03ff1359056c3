"""``green-estimate calibrate``: measure this device and write a profile."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from green_estimate.cli.common import cli_errors, echo_json, stderr_console, stdout_console
from green_estimate.cli.render import pct, si


@cli_errors
def calibrate(
    gpu: Annotated[Optional[int], typer.Option("--gpu", help="Calibrate this GPU (index as CUDA_VISIBLE_DEVICES shows it).")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Calibrate the CPU.")] = False,
    quick: Annotated[bool, typer.Option("--quick", help="The quick suite: 104 networks instead of 369 (85 random ones instead of 350, and the same 19 reference architectures); about 3 min instead of 10-12 on a 2-vCPU cloud VM (153-186 s and 725 s measured on an Intel Xeon one).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Profile path (default: the user profile directory).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: measured cases are kept.")] = False,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Measure no new network after this many minutes; fit the networks measured (the fit takes up to a minute more). --resume measures the rest.")] = None,
    watts: Annotated[Optional[float], typer.Option("--watts", help="Power for the estimate meter (W), when no sensor exists.")] = None,
    meter: Annotated[str, typer.Option("--meter", help="auto | nvml | rapl | estimate | fake")] = "auto",
    name: Annotated[Optional[str], typer.Option("--name", help="Profile name (default from the device).")] = None,
    precision: Annotated[str, typer.Option("--precision", help="fp32 | bf16 | fp16 (torch.autocast of the device; fp16 with a GradScaler) | tf32 (GPU only). The profile prices this precision only.")] = "fp32",
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    from_runs: Annotated[Optional[Path], typer.Option("--from-runs", help="Fit to measured whole runs instead: a runs file (.csv/.jsonl), validate's trials.csv, CodeCarbon's emissions.csv or a Zeus log.")] = None,
    prior: Annotated[Optional[str], typer.Option("--prior", help="With --from-runs: the profile to start from (datasheet:<gpu>, a name or a path; default: the runs' GPU's datasheet profile).")] = None,
    runs_map: Annotated[Optional[Path], typer.Option("--runs-map", help="With --from-runs: mapping file (TOML/JSON) joining CodeCarbon or Zeus rows to models and plans.")] = None,
    keep_contended: Annotated[bool, typer.Option("--keep-contended", help="With --from-runs on validate's trials.csv: keep trials measured while other work loaded the CPU or the machine ran off pace.")] = False,
) -> None:
    """Time every op inside real training steps of seeded random networks and fit a profile.

    With --from-runs, no benchmark runs: a prior profile is updated with runs already measured
    (see docs/calibration.md, "A profile from measured runs").

    Each network's step is run under torch.profiler (every op's time in context) and measured whole
    under the energy meter; per-class op models, a step model, per-class power and intervals from
    leaving whole architecture families out are fitted with statsmodels. 19 standard reference
    architectures are measured too (not by the quick GPU suite) and never fitted: their errors are
    printed, and they scale the intervals (split conformal prediction). Each sample is appended to a
    samples file beside the profile as it is measured, so Ctrl-C loses nothing; --resume continues
    where it stopped. --max-minutes bounds the measuring: the profile is then fitted on the networks
    measured so far, and says how many of the suite's those were.

    On a CPU, a class that ran too few networks with ops past a 32 MB cache to fit their cost (a quick
    suite's convolutions) takes it from the shipped CPU profile, carried here by the device probe; new
    tensors of 32 MiB or more are priced at what the probe measured them to cost (faulting their pages
    in, unmapping them), not fitted. The output says both.

    Example: green-estimate calibrate --cpu --quick --out my-cpu.json

    Example: green-estimate calibrate --cpu --max-minutes 10

    Example: green-estimate calibrate --cpu --quick --precision bf16
    Example: green-estimate calibrate --from-runs calibration/runs/yarally-cain2023-gtx1080.csv --prior datasheet:gtx-1080 --out p.json
    """
    from green_estimate.calibration.session import calibrate as run

    with _Progress(runs=from_runs is not None, disable=json_out) as progress:
        try:
            result = run(gpu=gpu, cpu=cpu, quick=quick, out=out, resume=resume, watts=watts, meter=meter, name=name,
                         precision=precision, from_runs=from_runs, prior=prior, runs_map=runs_map,
                         keep_contended=keep_contended, max_minutes=max_minutes, on_progress=progress.update)
        except KeyboardInterrupt:
            if from_runs is not None:
                raise
            progress.stop()
            stderr_console().print("Interrupted: every measured case is saved. Run the same command with --resume "
                                   "to continue.")
            raise typer.Exit(130) from None
    if json_out:
        echo_json(result.to_dict())
    elif from_runs is not None:
        _render_runs(result)
    else:
        _render(result)


class _Progress:
    """The calibration's progress on stderr, started at its first update (an option error is the only line):
    a bar of measured networks, or a status line of the runs' configurations counted (``runs``)."""

    def __init__(self, *, runs: bool, disable: bool) -> None:
        self._runs, self._disable, self._display, self._task = runs, disable, None, None

    def __enter__(self) -> _Progress:
        return self

    def update(self, done: int, total: int, label: str) -> None:
        if self._disable:
            return
        if self._display is None:
            self._start()
        if self._runs:
            self._display.update(f"counting configuration {min(done + 1, total)}/{total} {label[:50]}")
        else:
            self._display.update(self._task, completed=done, total=total, case=label[:40])

    def _start(self) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        err = stderr_console()
        if self._runs:
            self._display = err.status("counting configurations")
        else:
            self._display = Progress(TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[case]}"),
                                     console=err, transient=False)
            self._task = self._display.add_task("suite", total=None, case="")
        self._display.start()

    def stop(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _render(result) -> None:  # noqa: ANN001
    from rich.table import Table

    p = result.profile
    console = stdout_console()
    console.print(f"[bold]Profile {p['name']}[/bold] → {result.profile_path}")
    console.print(f"Device: {p['device']['name']}; meter: {p['meter']['name']} ({p['meter'].get('device', '')})")
    for reason in p["meter"].get("passed_over", []):
        console.print(f"[yellow]Better meter not used[/yellow] — {reason}")
    console.print(f"Time: measured. Energy: [bold]{p['provenance']}[/bold]"
                  + (" — time × assumed watts, not a sensor reading." if p["provenance"] == "estimated" else "."))
    ref = (p.get("step_model") or {}).get("interval", {}).get("reference")
    refs = len(ref["names"]) if ref else 0
    console.print(f"{p['sample_count']} networks fitted" + (f" and {refs} reference architectures tested" if refs else "")
                  + f" ({result.measured_now} measured now) in {result.elapsed_s:.0f} s; raw samples: {result.samples_path}")
    if result.stopped_at_max_minutes is not None:
        console.print(f"[yellow]Stopped at --max-minutes {result.stopped_at_max_minutes:g}[/yellow]: "
                      f"{result.networks_measured} of the suite's {result.networks_in_suite} networks measured, and the "
                      "profile fitted on those. Run the same command with --resume to measure the rest and refit.")
    t = Table(title="Per-class op models: time of ops inside training steps (cross-validated by network)",
              title_justify="left")
    for col in ("class", "ops", "networks", "features", "class-total median APE", "within ±15%", "power"):
        t.add_column(col, justify="left" if col in ("class", "features") else "right")
    for cls, e in p["classes"].items():
        cv = e["cv"]["time_s"]
        t.add_row(cls, str(e["n_samples"]), str(e.get("n_networks", "")), ", ".join(e["time_s"]["features"]),
                  pct(cv["median_ape"]), pct(cv["within_15pct"]), si(e.get("power_w"), "W"))
    console.print(t)
    borrowed = p.get("borrowed")
    if borrowed:
        what = "; ".join(f"{cls}: {', '.join(borrowed['classes'][cls])}" for cls in sorted(borrowed["classes"]))
        console.print(f"Borrowed from {borrowed['from']} ({borrowed['ratio_basis']}: ×{borrowed['ratio']:.2f}): {what} "
                      "— the cost of bytes an op moves past a 32 MB cache, which this calibration ran in too few "
                      "networks to fit.")
    pages = p.get("fresh_pages")
    if pages:
        console.print(f"Fresh pages (new tensors of 32 MiB or more), measured by the {pages['from']}: "
                      f"{pages['fault_s_per_byte'] * 1e9:.3f} ns/byte to fault them in (priced in the memory-bound "
                      f"classes), {pages['unmap_s_per_byte'] * 1e9:.3f} ns/byte to unmap them (in the step model).")
    iv = p["step_model"]["interval"]
    local = iv.get("local")
    cover = (local["coverage_unseen_family"]["time_s"] if local else iv["time_s"]["coverage_unseen_family"]).get("0.9")
    console.print(f"Whole steps, each architecture family left out of the fit in turn ({iv['n']} networks, "
                  f"{len(iv['families'])} families): median error {pct(iv['time_s']['median_ape'])}, "
                  f"{pct(iv['time_s']['within_15pct'])} within ±15%; a 90% interval"
                  + (" (from the errors of networks made up alike)" if local else "") + f" covered {pct(cover)} of them.")
    if ref:
        scale = ref["scale"]["time_s"].get("0.9")
        console.print(f"Reference architectures ({refs} standard models measured here, never fitted): "
                      f"median error {pct(ref['median_ape']['time_s'])}, {pct(ref['within_15pct']['time_s'])} within "
                      f"±15%; the interval above held {pct(ref['local_coverage']['time_s']['0.9'])} of them"
                      + (f", so intervals are scaled ×{scale:.2f} (split conformal prediction)." if scale else "."))
    noise = result.noise
    console.print(f"Repeat noise of this machine: median spread {pct(noise.get('median_spread_rel'))} "
                  f"(max−min of a network's windows), median abs. deviation {pct(noise.get('median_mad_rel'))}.")
    pace = p.get("pace")
    if pace:
        console.print(f"Machine pace: a fixed reference step, timed before each network, took "
                      f"×{pace['low_s'] / pace['median_s']:.2f}–×{pace['high_s'] / pace['median_s']:.2f} of its median "
                      f"{si(pace['median_s'], 's')} (a shared machine's speed moves; validate compares each trial's pace "
                      "with this median).")
    if p.get("idle_power_w") is not None:
        console.print(f"Idle power: {si(p['idle_power_w'], 'W')} (energies are totals, idle included).")


def _render_runs(result) -> None:  # noqa: ANN001
    from rich.table import Table

    p = result.profile
    r = p["runs_model"]
    console = stdout_console()
    src = r["source"]
    console.print(f"[bold]Profile {p['name']}[/bold] → {result.profile_path}")
    console.print(f"Fitted to {src['runs']} measured runs ({src['configurations']} configurations) in {src['path']} "
                  f"[{src['format']}], device {src['devices'][0]}; prior {result.prior}. Energy: [bold]measured-runs[/bold].")
    for note in src.get("notes", []):
        console.print(f"Note: {note}.")
    t = Table(title="Each configuration predicted by a fit that left it out (per run; fitted: the error of the "
              "fit to all)", title_justify="left")
    for col in ("configuration", "runs", "measured", "prior", "prior error", "left out", "left-out error", "fitted"):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    for row in r["loco"]:
        e = row.get("energy_j") or row.get("time_s")
        unit = "J" if "energy_j" in row else "s"
        t.add_row(row["label"], str(row["runs"]), si(e["measured_per_run"], unit), si(e["prior_per_run"], unit),
                  pct(math.exp(e["prior_log_err"]) - 1), si(e["left_out_per_run"], unit),
                  pct(math.exp(e["left_out_log_err"]) - 1), pct(math.exp(e["fitted_log_err"]) - 1))
    console.print(t)
    iv = r["interval"]["energy_j"]
    console.print(f"Energy interval: ±{iv['sigma_log']:.2f} in log, Student t with {iv['df']:g} degrees of freedom "
                  f"(prior error {iv['sigma0_log']:.2f} worth {iv['nu0']:g} configurations, updated by "
                  f"{iv['configurations']} left-out errors).")
    params = ", ".join(f"{k} {v:.3g}" for k, v in r["params"].items())
    console.print(f"Parameters: {params}", soft_wrap=True)
