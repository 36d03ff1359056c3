"""The validation report: built from the storage, written as report.json, report.md, trials.csv, PNGs.

``report.json`` has the schema ``green-estimate/validation@1``: ``config``, ``dataset``, ``meter``,
``notes``, ``prediction_quality``, ``machine_pace`` (null when no trial timed it), ``strategies``,
``claims``, ``trials`` and ``files``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from green_estimate import FLOP_CONVENTION
from green_estimate.validation.claims import ClaimResult, judge_claims
from green_estimate.validation.plots import write_plots
from green_estimate.validation.rows import TrialRow, load_rows, write_csv
from green_estimate.validation.summary import (MachinePace, PredictionQuality, StrategySummary, machine_pace,
                                               prediction_quality, summarize_strategies)

SCHEMA = "green-estimate/validation@1"
SHORT_WINDOW_FACTOR = 10  # a window shorter than 10 meter resolutions is mostly quantisation noise


@dataclass
class ValidationReport:
    """Everything a validation run found. ``to_dict()`` is the ``--json`` output."""

    config: dict
    dataset: dict
    meter: dict
    rows: list[TrialRow]
    strategies: list[StrategySummary]
    quality: PredictionQuality
    claims: list[ClaimResult]
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    pace: MachinePace | None = None

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "config": self.config,
            "dataset": self.dataset,
            "meter": self.meter,
            "flop_convention": FLOP_CONVENTION,
            "notes": list(self.notes),
            "prediction_quality": self.quality.to_dict(),
            "machine_pace": None if self.pace is None else self.pace.to_dict(),
            "strategies": [s.to_dict() for s in self.strategies],
            "claims": [c.to_dict() for c in self.claims],
            "trials": [r.to_dict() for r in self.rows],
            "files": dict(self.files),
        }


def build_report(
    rows: list[TrialRow],
    *,
    config: dict,
    dataset: dict,
    meter: dict,
    unfinished: dict[str, int] | None = None,
) -> ValidationReport:
    """Summaries, prediction quality, claims and notes from the finished trials (writes nothing)."""
    strategies = summarize_strategies(rows, list(config.get("strategies", [])) or None)
    report = ValidationReport(
        config=config, dataset=dataset, meter=meter, rows=rows, strategies=strategies,
        quality=prediction_quality(rows), claims=judge_claims(rows, strategies), pace=machine_pace(rows),
    )
    report.notes = _notes(report, unfinished or {})
    return report


DENORMAL_SLOW = 1.3  # a trial whose last steps ran this many times as long as with denormals flushed


def on_subnormals(row: TrialRow) -> bool:
    """Whether a trial computed on subnormal floats: its last steps ran at least :data:`DENORMAL_SLOW`
    times as long as with them flushed to zero, or some were left in its gradients or Adam's moments."""
    return bool(row.subnormal_values) or (row.denormal_slowdown is not None and row.denormal_slowdown >= DENORMAL_SLOW)


def _median_signed_time_error(rows: list) -> float:
    """The median of predicted over measured time, less 1, of ``rows``."""
    import statistics

    return statistics.median(r.pred_time_s / r.meas_time_s - 1 for r in rows)


def _notes(report: ValidationReport, unfinished: dict[str, int]) -> list[str]:
    rows, notes = report.rows, []
    provenances = sorted({r.provenance for r in rows})
    if "estimated" in provenances:
        notes.append(
            "Measured energy is ESTIMATED (wall time x stated watts): no energy counter was readable here. "
            "Energy errors then repeat the time errors; only the time columns are a real measurement."
        )
    if str(report.config.get("device", "")).startswith("cuda") and report.meter.get("name") != "nvml":
        notes.append(f"Training ran on {report.config['device']} but the meter is {report.meter.get('name')!r} "
                     f"({report.meter.get('device')}): the GPU's energy is not in these numbers. Fix NVML access "
                     "(see `green-estimate meters`) for GPU measurements.")
    profile = report.config.get("profile") or {}
    if profile.get("other_device"):
        notes.append(profile.get("note") or f"Predictions were priced by profile {profile.get('name')}, measured on "
                     f"another device ({profile.get('device')}).")
    notes.append("Measured energy is the meter's total over the training steps (idle power not subtracted); "
                 "prediction and evaluation are outside the measured window.")
    workers = int(report.config.get("workers") or 1)
    if workers > 1:
        notes.append(f"{workers} worker processes trained trials at the same time on this machine: they shared its "
                     "cores (torch threads split among them) and a package-wide meter (RAPL) or the estimate meter "
                     "sees their combined load, so a trial's measured energy and time include the others'. Use one "
                     "worker per machine (or per GPU) for measurements; several on one machine for throughput.")
    short = [r for r in rows if r.meter_resolution_s > 0 and r.meas_time_s < SHORT_WINDOW_FACTOR * r.meter_resolution_s]
    if short:
        notes.append(f"{len(short)} of {len(rows)} trials trained for less than {SHORT_WINDOW_FACTOR}x the meter's "
                     "resolution: their energy is dominated by counter quantisation; use more epochs.")
    busy = [r for r in rows if r.contended]
    if busy:
        notes.append(f"{len(busy)} of {len(rows)} trials ran while other work competed for the CPU (1-minute load "
                     "average above the torch threads + 1): their measured time and energy include that contention. "
                     "Run validation on an otherwise idle machine.")
    pace = report.pace
    if pace is not None and pace.off_pace:
        notes.append(f"{pace.off_pace} of {pace.trials} trials ran while this machine took more than ×{pace.limit:g} "
                     f"(or less than 1/{pace.limit:g}) its time for a fixed reference step when the profile was made "
                     f"(machine pace ×{pace.low:.2f}–×{pace.high:.2f}): a shared machine's speed changed, and their "
                     "errors are the machine's as much as the model's. The prediction quality of the trials at pace "
                     "is shown beside the overall one.")
    subnormal = [r for r in rows if on_subnormals(r)]
    if subnormal and str(report.config.get("device", "cpu")).startswith("cpu"):
        rest = [r for r in rows if not on_subnormals(r)]
        errors = " and ".join(f"{label} {_median_signed_time_error(group):+.1%}" for label, group
                              in (("theirs", subnormal), ("the others'", rest)) if group)
        slow = [r.denormal_slowdown for r in subnormal if r.denormal_slowdown is not None]
        notes.append(f"{len(subnormal)} of {len(rows)} trials computed on subnormal floats (values below float32's "
                     "smallest normal number, as a saturated softmax makes): "
                     + (f"their last steps ran ×{min(slow):.2f}–×{max(slow):.2f} as long as with such values "
                        "flushed to zero, " if slow else "")
                     + f"or some were left in their gradients or Adam's moments. Intel CPUs compute on such values far "
                     "more slowly, and no prediction prices it (docs/predict.md). "
                     f"Median time error: {errors}.")
    if any(v for v in unfinished.values()):
        notes.append("Trials that did not finish (failed, interrupted, or running elsewhere) are left out: "
                     + ", ".join(f"{s}: {n}" for s, n in unfinished.items() if n))
    few = [s.strategy for s in report.strategies if s.trials < 10]
    if few:
        notes.append(f"Few trials per strategy ({', '.join(few)} < 10): search-strategy and claim numbers are a "
                     "smoke test, not evidence. Run the full preset for the study's protocol.")
    return notes


def generate_report(
    storage,
    study_names: dict[str, str],
    out_dir: Path,
    *,
    config: dict,
    dataset: dict,
    meter: dict,
) -> ValidationReport:
    """Read every finished trial from ``storage``, build the report and write all its files."""
    rows, unfinished = load_rows(storage, study_names)
    report = build_report(rows, config=config, dataset=dataset, meter=meter, unfinished=unfinished)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"trials_csv": write_csv(rows, out_dir / "trials.csv")}
    files.update(write_plots(rows, out_dir / "plots"))
    files["report_json"] = out_dir / "report.json"
    files["report_md"] = out_dir / "report.md"
    report.files = {k: str(v) for k, v in files.items()}
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    (out_dir / "report.md").write_text(render_markdown(report, out_dir))
    return report


def _profile_line(prof: dict | None) -> list[str]:
    """The report's line naming the profile that priced the predictions, and where it was measured."""
    if not prof:
        return []
    where = {True: "**another device**", False: "this device", None: "an unknown device"}[prof.get("other_device")]
    return [f"- Predictions priced by profile `{prof.get('name')}` ({prof.get('provenance')}), measured on {where}: "
            f"{prof.get('device')}"]


def _pace_lines(pace: MachinePace | None) -> list[str]:
    """The machine's pace over the trials and, when some ran off pace, the quality of those at pace."""
    if pace is None:
        return []
    lines = [f"Machine pace before each trial (a fixed reference step's time over its time when the profile "
             f"was made; above 1: slower): median ×{pace.median:.2f}, ×{pace.low:.2f}–×{pace.high:.2f}; "
             f"{pace.off_pace} of {pace.trials} trials beyond ×{pace.limit:g} either way.", ""]
    a = pace.at_pace
    if pace.off_pace and a is not None:
        lines += [f"Trials at pace only ({a.trials}):", "", "| | energy | time |", "|---|---|---|",
                  f"| median absolute % error | {_pct(a.median_ape_energy)} | {_pct(a.median_ape_time)} |",
                  f"| measured inside the predicted interval | {_pct(a.interval_coverage_energy)} "
                  f"| {_pct(a.interval_coverage_time)} |",
                  f"| sweep total error | {_pct(a.sweep_error_energy)} | {_pct(a.sweep_error_time)} |", ""]
    return lines


def _f(x, fmt: str = "{:.3g}") -> str:
    return "–" if x is None else fmt.format(x)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def render_markdown(report: ValidationReport, out_dir: Path | None = None) -> str:
    """The report as Markdown: setup, notes, prediction quality, strategies, claims, plots."""
    c, d, m, q = report.config, report.dataset, report.meter, report.quality
    lines = [
        "# green-estimate validation report", "",
        f"- Data: **{d.get('name')}** {tuple(d.get('input_shape', []))}, {d.get('n_train')} train / "
        f"{d.get('n_test')} test samples ({d.get('source')})",
        f"- Protocol: preset `{c.get('preset')}`, {c.get('trials')} trials per strategy "
        f"({', '.join(c.get('strategies', []))}), {c.get('epochs')} epochs, batch {c.get('batch_size')}, "
        f"Adam, cross-entropy; device `{c.get('device')}`, {c.get('torch_threads', '?')} torch threads",
        f"- Meter: `{m.get('name')}` ({m.get('provenance')}) on {m.get('device')}",
        *_profile_line(c.get("profile")),
        f"- Storage: `{c.get('storage')}`", "",
    ]
    if report.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    lines += [
        "## Prediction quality", "",
        "| | energy | time |", "|---|---|---|",
        f"| median absolute % error | {_pct(q.median_ape_energy)} | {_pct(q.median_ape_time)} |",
        f"| trials within ±10% | {_pct(q.within_10pct_energy)} | {_pct(q.within_10pct_time)} |",
        f"| measured inside the predicted interval | {_pct(q.interval_coverage_energy)} | {_pct(q.interval_coverage_time)} |",
        f"| sweep total predicted / measured | {_f(q.sweep_predicted_energy_j)} J / {_f(q.sweep_measured_energy_j)} J "
        f"| {_f(q.sweep_predicted_time_s)} s / {_f(q.sweep_measured_time_s)} s |",
        f"| sweep total error | {_pct(q.sweep_error_energy)} | {_pct(q.sweep_error_time)} |",
        "", f"{q.trials} trials; the prediction of each was made before it trained.", "",
        *_pace_lines(report.pace),
        "## Search strategies", "",
        "| strategy | trials | best accuracy | trials / energy to best | trials / energy to within 1 point of overall best "
        "| measured energy | predicted energy |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report.strategies:
        near = "never" if s.trials_to_within_1pt is None else f"{s.trials_to_within_1pt} / {_f(s.energy_to_within_1pt_j)} J"
        lines.append(f"| {s.strategy} | {s.trials} | {_pct(s.best_accuracy)} | {s.trials_to_best} / {_f(s.energy_to_best_j)} J "
                     f"| {near} | {_f(s.measured_energy_j)} J | {_f(s.predicted_energy_j)} J |")
    lines += ["", "## The study's claims", "", "| # | claim | verdict | numbers |", "|---|---|---|---|"]
    for cl in report.claims:
        lines.append(f"| {cl.number} | {cl.claim} | **{cl.verdict}** | {cl.summary} |")
    lines += ["", "Thresholds: see `green_estimate/validation/claims.py` and docs/validation.md.", ""]
    plots = {k: v for k, v in report.files.items() if v.endswith(".png")}
    if plots:
        lines += ["## Plots", ""]
        for name, path in plots.items():
            rel = Path(path).relative_to(out_dir) if out_dir is not None else Path(path)
            lines.append(f"![{name}]({rel.as_posix()})")
        lines.append("")
    lines += ["## Trials", "", "| strategy | # | architecture | accuracy | predicted J [interval] | measured J | predicted s "
              "| measured s | machine pace |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        lines.append(f"| {r.strategy} | {r.trial} | {r.architecture} | {_pct(r.accuracy)} | {_f(r.pred_energy_j)} "
                     f"[{_f(r.pred_energy_j_low)}, {_f(r.pred_energy_j_high)}] | {_f(r.meas_energy_j)} | "
                     f"{_f(r.pred_time_s)} | {_f(r.meas_time_s)} | {_f(r.machine_pace, '×{:.2f}')} |")
    return "\n".join(lines) + "\n"
