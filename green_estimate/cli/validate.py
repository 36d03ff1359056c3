"""``green-estimate validate``: real, measured tuning runs set beside the predictions made before them."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from green_estimate.cli.common import cli_errors, echo_json, stderr_console, stdout_console
from green_estimate.cli.render import pct, si


@cli_errors
def validate(
    quick: Annotated[bool, typer.Option("--quick", help="Quick preset: 24 trials per strategy, 10 epochs, batch 128 (about a minute on a 2-core CPU). Default: the study's protocol, 64 trials, 25 epochs, batch 512.")] = False,
    trials: Annotated[Optional[int], typer.Option(min=0, help="Finished trials wanted per strategy (a resumed run only runs the missing ones).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs per trial.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", min=1, help="Samples per training step.")] = None,
    strategies: Annotated[str, typer.Option(help="Comma-separated: grid, random, bayes (Gaussian process), tpe.")] = "grid,random,bayes",
    families: Annotated[str, typer.Option(help="Model families searched: simple_cnn, dense_poly, dense_linear.")] = "simple_cnn,dense_poly,dense_linear",
    five_params: Annotated[bool, typer.Option("--five-params", help="Also search Adam's epsilon and weight decay (the study's 5-parameter space).")] = False,
    data: Annotated[str, typer.Option(help="digits (bundled, no download) | fashion-mnist | cifar10 (from --data-dir).")] = "digits",
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Folder with the FashionMNIST IDX files or CIFAR-10 python batches (never downloaded).")] = None,
    train_samples: Annotated[Optional[int], typer.Option("--train-samples", min=1, help="Train on a fixed random subset of this many samples.")] = None,
    test_samples: Annotated[Optional[int], typer.Option("--test-samples", min=1, help="Test on a fixed random subset of this many samples.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage shared by workers and kept for resuming: a database URL (postgresql://... for several machines), a SQLite file path, or a .journal file (Optuna's journal, e.g. on NFS). Default: OUT/validation.sqlite3.")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes on this machine running the studies at once (they share its cores and meters; see docs/validation.md).")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for trials.csv, report.json, report.md and plots/.")] = Path("green-estimate-validation"),
    seed: Annotated[int, typer.Option(help="Seeds the samplers, model initialisation and batch order.")] = 0,
    gpu: Annotated[Optional[int], typer.Option("--gpu", min=0, help="Train on this CUDA GPU and meter it with NVML.")] = None,
    cpu: Annotated[bool, typer.Option("--cpu", help="Train on the CPU even if a GPU is present.")] = False,
    watts: Annotated[Optional[float], typer.Option(min=0.0, help="Power for the estimate meter (time x watts) when no energy counter is readable.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="Calibration profile (name or path) the predictions use. Default: this device's own profile; if it has none, a quick calibration is run first (see --no-calibrate).")] = None,
    no_calibrate: Annotated[bool, typer.Option("--no-calibrate", help="With no profile for this device, predict with the shipped default (carried here by the device probe) instead of calibrating first.")] = False,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Confidence level of the prediction intervals.")] = 0.9,
    json_out: Annotated[bool, typer.Option("--json", help="Print the green-estimate/validation@1 JSON document.")] = False,
) -> None:
    """Run real tuning studies (grid, random, Bayesian search), each trial measured, against predictions.

    Every trial is priced before it trains, trained under the best energy meter here, and tested on
    held-out data. On a CPU each trial first times a fixed reference step (0.1 s): the machine's pace
    against when the profile was made; trials on a machine running off pace are reported apart.
    Writes trials.csv, report.json, report.md and PNG plots, and judges the four claims of the study
    green-estimate reproduces. Rerun with the same --storage to resume.

    Example: green-estimate validate --quick --out validation-run

    Example: green-estimate validate --quick --workers 2 --storage sweep.journal --out validation-run
    """
    from green_estimate.validation.session import validate as run

    with _Events() if not json_out else contextlib.nullcontext() as events:
        report = run("quick" if quick else "full", out, gpu=gpu, cpu=cpu, watts=watts, profile=profile,
                     calibrate=not no_calibrate, confidence=confidence, events=events, trials=trials, epochs=epochs,
                     batch_size=batch_size, strategies=_split(strategies), families=_split(families),
                     five_params=five_params, data=data, data_dir=data_dir, train_samples=train_samples,
                     test_samples=test_samples, storage=storage, seed=seed, workers=workers)
    if json_out:
        echo_json(report.to_dict())
    else:
        _render(report)


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


class _Events:
    """Shows a validation's events (a :class:`~green_estimate.validation.session.ValidationEvents`) on
    stderr: the calibration and the trials as progress bars, and the meter."""

    def __enter__(self) -> _Events:
        self._bars: list = []
        return self

    def _bar(self, label: str, *columns: Any) -> Any:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), *columns,
                       console=stderr_console())
        bar.start()
        self._bars.append(bar)
        return bar, bar.add_task(label, total=None)

    def calibrating(self, command: str) -> None:
        stderr_console().print(f"No profile calibrated on this device: running `{command}` first, so the predictions "
                               "are the ones a user here would get (--no-calibrate skips this).")
        self._calibration = self._bar("calibrating")

    def calibration_progress(self, done: int, total: int, case: str) -> None:
        bar, task = self._calibration
        bar.update(task, completed=done, total=total)

    def calibrated(self, result: Any) -> None:
        self._calibration[0].stop()
        stderr_console().print(f"Calibrated in {result.elapsed_s:.0f} s → {result.profile_path}")

    def meter_chosen(self, meter: Any) -> None:
        from rich.progress import TextColumn, TimeRemainingColumn

        err = stderr_console()
        err.print(f"Meter: [bold]{meter.name}[/bold] ({meter.provenance}) on {meter.device}")
        for reason in getattr(meter, "passed_over", []):
            err.print(f"[yellow]Better meter not used[/yellow] — {reason}")
        self._trials = self._bar("trials", TimeRemainingColumn(), TextColumn("{task.description}"))

    def trial(self, done: int, total: int, message: str) -> None:
        bar, task = self._trials
        bar.update(task, completed=done, total=total, description=message)

    def __exit__(self, *exc: object) -> None:
        for bar in self._bars:
            if bar.live.is_started:
                bar.stop()


def _render(report) -> None:  # noqa: ANN001
    from rich.table import Table

    console = stdout_console()
    d, q = report.dataset, report.quality
    console.print(f"[bold]Validation[/bold] on {d['name']} {tuple(d['input_shape'])}: {q.trials} trials, "
                  f"meter {report.meter['name']} ({report.meter['provenance']})")
    prof = report.config.get("profile") or {}
    if prof:
        where = {True: "[yellow]another device[/yellow]", False: "this device", None: "an unknown device"}[prof.get("other_device")]
        console.print(f"Predictions priced by profile [bold]{prof.get('name')}[/bold] ({prof.get('provenance')}), "
                      f"measured on {where}: {prof.get('device')}")
    pace = report.pace
    at = pace.at_pace if pace is not None and pace.off_pace else None
    qt = Table(title="Prediction quality (each prediction made before its trial trained)", title_justify="left",
               caption=None if at is None else f"† only the {at.trials} trials at the pace the profile was made at",
               caption_justify="left")
    for col in ("", "energy", "time", *(("energy †", "time †") if at is not None else ())):
        qt.add_column(col, justify="left" if not col else "right")

    def row(label: str, cells) -> None:  # noqa: ANN001
        qualities = (q, at) if at is not None else (q,)
        qt.add_row(label, *(cell(x) for x in qualities for cell in cells))

    row("median absolute % error", (lambda x: pct(x.median_ape_energy), lambda x: pct(x.median_ape_time)))
    row("trials within ±10%", (lambda x: pct(x.within_10pct_energy), lambda x: pct(x.within_10pct_time)))
    row("inside the predicted interval", (lambda x: pct(x.interval_coverage_energy), lambda x: pct(x.interval_coverage_time)))
    row("sweep total predicted", (lambda x: si(x.sweep_predicted_energy_j, "J"), lambda x: si(x.sweep_predicted_time_s, "s")))
    row("sweep total measured", (lambda x: si(x.sweep_measured_energy_j, "J"), lambda x: si(x.sweep_measured_time_s, "s")))
    row("sweep total error", (lambda x: pct(x.sweep_error_energy), lambda x: pct(x.sweep_error_time)))
    console.print(qt)
    if pace is not None:
        console.print(f"Machine pace before each trial (a reference step's time vs when the profile was made): median ×{pace.median:.2f}, "
                      f"×{pace.low:.2f}–×{pace.high:.2f}; {pace.off_pace} of {pace.trials} trials beyond ×{pace.limit:g}.")
    st = Table(title="Search strategies", title_justify="left")
    for col in ("strategy", "trials", "best acc.", "energy to best", "energy to within 1 pt", "measured", "predicted"):
        st.add_column(col, justify="left" if col == "strategy" else "right")
    for s in report.strategies:
        st.add_row(s.strategy, str(s.trials), pct(s.best_accuracy), si(s.energy_to_best_j, "J"),
                   "never" if s.energy_to_within_1pt_j is None else si(s.energy_to_within_1pt_j, "J"),
                   si(s.measured_energy_j, "J"), si(s.predicted_energy_j, "J"))
    console.print(st)
    ct = Table(title="The study's claims on these runs", title_justify="left", show_lines=True)
    for col in ("#", "verdict", "numbers"):
        ct.add_column(col)
    colour = {"supported": "green", "not supported": "red", "inconclusive": "yellow"}
    for c in report.claims:
        ct.add_row(str(c.number), f"[{colour.get(c.verdict, 'white')}]{c.verdict}[/]", f"{c.claim}\n{c.summary}")
    console.print(ct)
    for note in report.notes:
        console.print(f"[yellow]Note:[/yellow] {note}")
    console.print("Wrote: " + ", ".join(report.files.values()))
