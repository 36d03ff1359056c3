"""``green-estimate validate``: real, measured tuning runs set beside the predictions made before them."""
from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import Annotated, Optional

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
    held-out data. Writes trials.csv, report.json, report.md and PNG plots, and judges the four
    claims of the study green-estimate reproduces. Rerun with the same --storage to resume.

    Example: green-estimate validate --quick --out validation-run

    Example: green-estimate validate --quick --workers 2 --storage sweep.journal --out validation-run
    """
    from green_estimate.errors import UsageError
    from green_estimate.validation import preset_config, run_validation

    if gpu is not None and cpu:
        raise UsageError("--gpu and --cpu exclude each other: give one of them (or neither to use GPU 0 when present)")
    device, gpu_index = _device(gpu, cpu)
    config = preset_config(
        "quick" if quick else "full", out,
        trials=trials, epochs=epochs, batch_size=batch_size, strategies=_split(strategies), families=_split(families),
        five_params=five_params, data=data, data_dir=data_dir, train_samples=train_samples, test_samples=test_samples,
        storage=storage, seed=seed, device=device, workers=workers,
    )
    prof = _choose_profile(profile, device, calibrate=not no_calibrate, quiet=json_out)
    config = dataclasses.replace(config, predictor=f"{prof.name}@{confidence:g}", profile=_identity(prof, device))
    _quiet_optuna()
    meter = _make_meter(gpu_index, watts)
    try:
        predict_fn = _make_predictor(prof, confidence, device)
        factory = _meter_factory(gpu_index, watts) if config.workers > 1 else None
        if json_out:
            report = run_validation(config, meter=meter, predict_fn=predict_fn, meter_factory=factory)
        else:
            stderr_console().print(f"Meter: [bold]{meter.name}[/bold] ({meter.provenance}) on {meter.device}")
            for reason in getattr(meter, "passed_over", []):
                stderr_console().print(f"[yellow]Better meter not used[/yellow] — {reason}")
            with _ProgressBar() as bar:
                report = run_validation(config, meter=meter, predict_fn=predict_fn, progress=bar.update,
                                        meter_factory=factory)
    finally:
        meter.close()
    if json_out:
        echo_json(report.to_dict())
    else:
        _render(report)


def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _device(gpu: int | None, cpu: bool) -> tuple[str, int | None]:
    if gpu is not None:
        return f"cuda:{gpu}", gpu
    if cpu:
        return "cpu", None
    import torch

    return ("cuda:0", 0) if torch.cuda.is_available() else ("cpu", None)


def _make_meter(gpu_index: int | None, watts: float | None):
    from green_estimate.meters.probe import best_meter

    return best_meter(gpu_index=gpu_index, watts=watts)


def _meter_factory(gpu_index: int | None, watts: float | None):  # noqa: ANN202
    """What each worker process calls to open its own meter (picklable: a partial of a module function)."""
    import functools

    from green_estimate.meters.probe import best_meter

    return functools.partial(best_meter, gpu_index=gpu_index, watts=watts)


def _choose_profile(profile: str | None, device: str, *, calibrate: bool, quiet: bool):  # noqa: ANN202
    from green_estimate.validation.profile_choice import choose_profile

    # chosen once (a bad --profile fails before any trial), for the device the trials train on
    if quiet:
        return choose_profile(profile, device, calibrate=calibrate).profile
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = stderr_console()
    progress = Progress(TextColumn("calibrating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err)
    task = progress.add_task("calibrate", total=None)

    def starting(command: str) -> None:
        err.print(f"No profile calibrated on this device ({device}): running `{command}` first, so the predictions "
                  "are the ones a user here would get (--no-calibrate skips this).")
        progress.start()

    try:
        choice = choose_profile(profile, device, calibrate=calibrate, on_calibrating=starting,
                                on_progress=lambda done, total, _: progress.update(task, completed=done, total=total))
    finally:
        if progress.live.is_started:
            progress.stop()
    if choice.calibrated_now:
        err.print(f"Calibrated in {choice.calibration.elapsed_s:.0f} s → {choice.calibration.profile_path}")
    return choice.profile


def _identity(prof, device: str) -> dict:  # noqa: ANN001
    from green_estimate.profile import Profile
    from green_estimate.profile_store import profile_identity

    if not isinstance(prof, Profile):  # a stand-in (tests): its name is all there is to say
        return {"name": getattr(prof, "name", str(prof)), "device": "", "provenance": "", "origin": "",
                "other_device": None, "note": ""}
    return profile_identity(prof, device)


def _make_predictor(profile, confidence: float, device: str):
    import functools

    from green_estimate.predict import predict_model

    return functools.partial(predict_model, profile=profile, confidence=confidence, device=device)


def _quiet_optuna() -> None:
    import optuna

    # Optuna logs every trial at INFO and a sampler notice at WARNING; the progress bar says it all.
    optuna.logging.set_verbosity(optuna.logging.ERROR)


class _ProgressBar:
    """A rich progress bar on stderr fed by ``progress(done, total, message)``."""

    def __enter__(self) -> _ProgressBar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                  TimeRemainingColumn(), TextColumn("{task.description}"), console=stderr_console())
        self._progress.__enter__()
        self._task = self._progress.add_task("", total=None)
        return self

    def update(self, done: int, total: int, message: str) -> None:
        self._progress.update(self._task, completed=done, total=total, description=message)

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)


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
    qt = Table(title="Prediction quality (each prediction made before its trial trained)", title_justify="left")
    for col in ("", "energy", "time"):
        qt.add_column(col, justify="left" if not col else "right")
    qt.add_row("median absolute % error", pct(q.median_ape_energy), pct(q.median_ape_time))
    qt.add_row("trials within ±10%", pct(q.within_10pct_energy), pct(q.within_10pct_time))
    qt.add_row("inside the predicted interval", pct(q.interval_coverage_energy), pct(q.interval_coverage_time))
    qt.add_row("sweep total predicted", si(q.sweep_predicted_energy_j, "J"), si(q.sweep_predicted_time_s, "s"))
    qt.add_row("sweep total measured", si(q.sweep_measured_energy_j, "J"), si(q.sweep_measured_time_s, "s"))
    qt.add_row("sweep total error", pct(q.sweep_error_energy), pct(q.sweep_error_time))
    console.print(qt)
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
