"""Numbers over the trials: per-strategy search efficiency and the quality of the predictions.

Energies are the meter's (measured or estimated, as each row says), summed over trials in the order
each strategy ran them (trial number).
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from green_estimate.validation.rows import TrialRow

WITHIN_POINTS = 0.01  # "within 1 point" of accuracy, as a fraction
GOOD_APE = 0.10  # "within ±10 %"


@dataclass(frozen=True)
class StrategySummary:
    """How one search strategy spent its energy.

    Attributes:
        strategy: ``grid``, ``random``, ``bayes`` or ``tpe``.
        trials: finished trials.
        best_accuracy: its best test accuracy (0..1).
        trials_to_best: trials run up to and including the first one that reached it.
        energy_to_best_j: measured energy of those trials.
        trials_to_within_1pt: trials until one came within 1 point of the best accuracy of *all*
            strategies (None if none did).
        energy_to_within_1pt_j: measured energy of those trials (None if none did).
        measured_energy_j: measured energy of all its trials.
        predicted_energy_j: predicted energy of all its trials.
    """

    strategy: str
    trials: int
    best_accuracy: float
    trials_to_best: int
    energy_to_best_j: float
    trials_to_within_1pt: int | None
    energy_to_within_1pt_j: float | None
    measured_energy_j: float
    predicted_energy_j: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PredictionQuality:
    """How well the predictions made before each trial matched its measurement.

    APE is |predicted − measured| / measured. Coverage is the share of trials whose measurement lies
    inside the predicted interval. The sweep-total error is (Σ predicted − Σ measured) / Σ measured.
    """

    trials: int
    median_ape_energy: float | None
    median_ape_time: float | None
    within_10pct_energy: float | None
    within_10pct_time: float | None
    interval_coverage_energy: float | None
    interval_coverage_time: float | None
    sweep_predicted_energy_j: float
    sweep_measured_energy_j: float
    sweep_error_energy: float | None
    sweep_predicted_time_s: float
    sweep_measured_time_s: float
    sweep_error_time: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MachinePace:
    """How fast the machine ran before each trial, against when the profile was made
    (:mod:`green_estimate.pace`; above 1: slower).

    Attributes:
        trials: trials with a pace measured.
        median, low, high: the median, smallest and largest pace.
        limit: a trial beyond ×limit either way is *off pace*.
        off_pace: trials off pace.
        at_pace: prediction quality over the trials at pace (None when every trial was off pace).
    """

    trials: int
    median: float
    low: float
    high: float
    limit: float
    off_pace: int
    at_pace: PredictionQuality | None

    def to_dict(self) -> dict:
        return asdict(self)  # at_pace too: asdict converts nested dataclasses


def machine_pace(rows: list[TrialRow]) -> MachinePace | None:
    """The pace over the trials that measured one, and the prediction quality of those at pace
    (None when no trial measured a pace: a GPU, several workers, or trials from before the pace)."""
    from green_estimate.pace import OFF_PACE

    paced = [r for r in rows if r.machine_pace is not None]
    if not paced:
        return None
    paces = [float(r.machine_pace) for r in paced]
    at = [r for r in paced if not r.off_pace]
    return MachinePace(trials=len(paced), median=statistics.median(paces), low=min(paces), high=max(paces),
                       limit=OFF_PACE, off_pace=len(paced) - len(at), at_pace=prediction_quality(at) if at else None)


def summarize_strategies(rows: list[TrialRow], strategies: list[str] | None = None) -> list[StrategySummary]:
    """One :class:`StrategySummary` per strategy that has trials (in ``strategies`` order if given)."""
    if not rows:
        return []
    best_overall = max(r.accuracy for r in rows)
    order = strategies or sorted({r.strategy for r in rows})
    out = []
    for strategy in order:
        mine = sorted((r for r in rows if r.strategy == strategy), key=lambda r: r.trial)
        if not mine:
            continue
        best = max(r.accuracy for r in mine)
        to_best = _first_reaching(mine, best)
        to_near = _first_reaching(mine, best_overall - WITHIN_POINTS)
        out.append(StrategySummary(
            strategy=strategy,
            trials=len(mine),
            best_accuracy=best,
            trials_to_best=to_best[0],
            energy_to_best_j=to_best[1],
            trials_to_within_1pt=None if to_near is None else to_near[0],
            energy_to_within_1pt_j=None if to_near is None else to_near[1],
            measured_energy_j=sum(r.meas_energy_j for r in mine),
            predicted_energy_j=sum(r.pred_energy_j for r in mine),
        ))
    return out


def _first_reaching(rows: list[TrialRow], target: float):
    """(trials, cumulative measured J) up to the first row with accuracy ≥ target, or None."""
    energy_j = 0.0
    # A tiny tolerance so that "reaches its own best" is exact despite float rounding.
    for i, row in enumerate(rows, start=1):
        energy_j += row.meas_energy_j
        if row.accuracy >= target - 1e-12:
            return i, energy_j
    return None


def prediction_quality(rows: list[TrialRow]) -> PredictionQuality:
    """Median APE, share within ±10 %, interval coverage and sweep-total error, for energy and time."""
    e_rows = [r for r in rows if r.meas_energy_j > 0]
    t_rows = [r for r in rows if r.meas_time_s > 0]
    ape_e = [abs(r.pred_energy_j - r.meas_energy_j) / r.meas_energy_j for r in e_rows]
    ape_t = [abs(r.pred_time_s - r.meas_time_s) / r.meas_time_s for r in t_rows]
    cover_e = [r.pred_energy_j_low <= r.meas_energy_j <= r.pred_energy_j_high for r in rows]
    cover_t = [r.pred_time_s_low <= r.meas_time_s <= r.pred_time_s_high for r in rows]
    pe, me = sum(r.pred_energy_j for r in rows), sum(r.meas_energy_j for r in rows)
    pt, mt = sum(r.pred_time_s for r in rows), sum(r.meas_time_s for r in rows)
    return PredictionQuality(
        trials=len(rows),
        median_ape_energy=statistics.median(ape_e) if ape_e else None,
        median_ape_time=statistics.median(ape_t) if ape_t else None,
        within_10pct_energy=_share([a <= GOOD_APE for a in ape_e]),
        within_10pct_time=_share([a <= GOOD_APE for a in ape_t]),
        interval_coverage_energy=_share(cover_e),
        interval_coverage_time=_share(cover_t),
        sweep_predicted_energy_j=pe,
        sweep_measured_energy_j=me,
        sweep_error_energy=(pe - me) / me if me > 0 else None,
        sweep_predicted_time_s=pt,
        sweep_measured_time_s=mt,
        sweep_error_time=(pt - mt) / mt if mt > 0 else None,
    )


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
