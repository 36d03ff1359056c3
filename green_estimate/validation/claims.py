"""The study's four claims (shared/PAPER.md), judged on the trials of one validation run.

Each claim gets ``supported``, ``not supported`` or ``inconclusive`` and the numbers behind it. The
thresholds below make "significantly", "by far", "roughly halved" and "small" concrete; they are
stated in the report. One run of each strategy is one sample: no verdict here is a significance test.

1. *Bayesian optimisation dominates grid and random search*: it comes within 1 accuracy point of the
   best accuracy any strategy found with less cumulative measured energy than grid and random.
   Fewer than :data:`CLAIM1_MIN_TRIALS` trials per strategy is too few to judge.
2. *Conv layers are by far the most expensive of conv, linear and ReLU*: judged from the
   **predicted** per-class energy of every SimpleCNN architecture with ReLU tried (per-layer energy cannot be
   metered; the study inferred it from variants). Supported if conv is the largest class in at
   least 75 % of them and, in the median, at least 2× the larger of linear and ReLU.
3. *Accuracy shows diminishing returns as models get more energy-hungry*: per architecture, its best
   accuracy against its median measured energy; f(E) is the best accuracy of architectures costing
   at most E. Between the cheapest (E0) and dearest (E2) architecture, with E1 = √(E0·E2), the costly
   half of the (log) energy range must buy less accuracy than the cheap half:
   f(E2) − f(E1) < f(E1) − f(E0).
4. *Energy can be roughly halved by reducing complexity at a small accuracy cost*: for each reduction
   (conv blocks max → 1, linear layers 7 → 3, ReLU on → off, SimpleCNN → DensePolyNN), the measured
   energy of reduced vs full architectures — matched on the other knobs where such pairs exist — and
   the difference of their best accuracies. Supported if some reduction has an energy ratio ≤ 0.6 at
   an accuracy cost ≤ 2 points.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from green_estimate.validation.rows import TrialRow
from green_estimate.validation.summary import StrategySummary

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
CLAIM1_MIN_TRIALS = 20
CLAIM2_MAJORITY, CLAIM2_BY_FAR = 0.75, 2.0
CLAIM3_MIN_ARCHITECTURES, CLAIM3_MIN_SPAN = 4, 1.5
CLAIM4_HALVED, CLAIM4_SMALL_COST, CLAIM4_MIN_GROUP = 0.6, 0.02, 2

TEXT = {
    1: "Bayesian optimisation dominates grid and random search: it reaches its best accuracy with less energy.",
    2: "Of conv, linear and ReLU layers, convolutional layers are by far the most expensive in energy.",
    3: "Accuracy shows diminishing returns as models get more energy-hungry.",
    4: "Training energy can be roughly halved by reducing network complexity, at a small accuracy cost.",
}


@dataclass(frozen=True)
class ClaimResult:
    """A claim, the verdict of these runs, one sentence with the numbers, and the numbers."""

    number: int
    claim: str
    verdict: str
    summary: str
    numbers: dict

    def to_dict(self) -> dict:
        return asdict(self)


def judge_claims(rows: list[TrialRow], summaries: list[StrategySummary]) -> list[ClaimResult]:
    """All four claims, in order."""
    return [claim_bayes(summaries), claim_conv(rows), claim_returns(rows), claim_reduction(rows)]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _j(x: float | None) -> str:
    return "never" if x is None else f"{x:.3g} J"


def claim_bayes(summaries: list[StrategySummary]) -> ClaimResult:
    """Claim 1 from the per-strategy energy to come within 1 point of the best accuracy."""
    by = {s.strategy: s for s in summaries}
    numbers = {s.strategy: {"trials": s.trials, "best_accuracy": s.best_accuracy,
                            "trials_to_within_1pt": s.trials_to_within_1pt,
                            "energy_to_within_1pt_j": s.energy_to_within_1pt_j} for s in summaries}
    bayes = by.get("bayes") or by.get("tpe")
    others = [by[s] for s in ("grid", "random") if s in by]
    if bayes is None or not others:
        return ClaimResult(1, TEXT[1], INCONCLUSIVE, "needs a Bayesian strategy and grid or random search in the same run", numbers)
    parts = [f"{s.strategy}: never" if s.trials_to_within_1pt is None else
             f"{s.strategy}: {s.trials_to_within_1pt} trials, {_j(s.energy_to_within_1pt_j)}" for s in [bayes, *others]]
    target = max(s.best_accuracy for s in summaries)
    text = f"to come within 1 point of the best accuracy ({_pct(target)}): " + "; ".join(parts)
    few = [s.strategy for s in [bayes, *others] if s.trials < CLAIM1_MIN_TRIALS]
    if few:
        return ClaimResult(1, TEXT[1], INCONCLUSIVE,
                           f"too few trials to judge ({', '.join(few)} < {CLAIM1_MIN_TRIALS}); {text}", numbers)
    e_b = bayes.energy_to_within_1pt_j
    wins = e_b is not None and all(o.energy_to_within_1pt_j is None or e_b < o.energy_to_within_1pt_j for o in others)
    return ClaimResult(1, TEXT[1], SUPPORTED if wins else NOT_SUPPORTED, f"{text} (one run per strategy, no significance test)", numbers)


def claim_conv(rows: list[TrialRow]) -> ClaimResult:
    """Claim 2 from the predicted by-class energy of each SimpleCNN architecture."""
    archs: dict[str, dict] = {}
    for r in rows:
        # Only architectures that have all three classes: without ReLU the relu share is zero by construction.
        if r.family == "simple_cnn" and r.arch.get("relu") and r.pred_by_class_j_per_step.get("conv", 0.0) > 0:
            archs.setdefault(r.architecture, r.pred_by_class_j_per_step)
    cnn_j = [r.meas_energy_j / r.steps for r in rows if r.family == "simple_cnn" and r.steps]
    dense_j = [r.meas_energy_j / r.steps for r in rows if r.family != "simple_cnn" and r.steps]
    numbers: dict = {
        "architectures": len(archs),
        "measured_j_per_step_median": {"simple_cnn": _median(cnn_j), "dense": _median(dense_j)},
    }
    if not archs:
        return ClaimResult(2, TEXT[2], INCONCLUSIVE, "no SimpleCNN trial with ReLU and a predicted conv energy to compare", numbers)
    top, ratios, shares = 0, [], {"conv": [], "linear": [], "relu": []}
    for by_class in archs.values():
        total = sum(by_class.values()) or 1.0
        conv, rival = by_class.get("conv", 0.0), max(by_class.get("linear", 0.0), by_class.get("relu", 0.0))
        top += conv > rival
        ratios.append(conv / rival if rival > 0 else math.inf)
        for cls in shares:
            shares[cls].append(by_class.get(cls, 0.0) / total)
    frac_top, ratio = top / len(archs), statistics.median(ratios)
    numbers.update({"conv_largest_share_of_architectures": frac_top,
                    "median_conv_to_next_ratio": ratio if math.isfinite(ratio) else None,  # JSON has no infinity
                    "median_share_of_step_energy": {c: statistics.median(v) for c, v in shares.items()}})
    med = numbers["median_share_of_step_energy"]
    text = (f"predicted, over {len(archs)} SimpleCNN architectures with ReLU: conv is the largest class in {_pct(frac_top)}, "
            f"median conv/next = {ratio:.2f}x; median shares of step energy conv {_pct(med['conv'])}, "
            f"linear {_pct(med['linear'])}, relu {_pct(med['relu'])}")
    if frac_top >= CLAIM2_MAJORITY and ratio >= CLAIM2_BY_FAR:
        verdict = SUPPORTED
    elif frac_top < 0.5 or ratio < 1.0:
        verdict = NOT_SUPPORTED
    else:
        verdict, text = INCONCLUSIVE, text + " (conv leads, but not by far)"
    return ClaimResult(2, TEXT[2], verdict, text, numbers)


def claim_returns(rows: list[TrialRow]) -> ClaimResult:
    """Claim 3 from the accuracy frontier over architectures ordered by measured energy."""
    groups: dict[str, list[TrialRow]] = {}
    for r in rows:
        groups.setdefault(r.architecture, []).append(r)
    points = sorted((statistics.median(x.meas_energy_j for x in g), max(x.accuracy for x in g)) for g in groups.values())
    numbers: dict = {"architectures": len(points)}
    if len(points) < CLAIM3_MIN_ARCHITECTURES or points[0][0] <= 0:
        return ClaimResult(3, TEXT[3], INCONCLUSIVE,
                           f"needs at least {CLAIM3_MIN_ARCHITECTURES} architectures with measured energy, got {len(points)}", numbers)
    e0, e2 = points[0][0], points[-1][0]
    numbers["energy_span"] = e2 / e0
    if e2 / e0 < CLAIM3_MIN_SPAN:
        return ClaimResult(3, TEXT[3], INCONCLUSIVE,
                           f"architectures differ too little in energy ({e2 / e0:.2f}x < {CLAIM3_MIN_SPAN}x) to see returns", numbers)
    e1 = math.sqrt(e0 * e2)

    def frontier(e: float) -> float:
        return max(acc for energy, acc in points if energy <= e)

    gain_low, gain_high = frontier(e1) - frontier(e0), frontier(e2) - frontier(e1)
    numbers.update({"energy_j": [e0, e1, e2], "frontier_accuracy": [frontier(e0), frontier(e1), frontier(e2)],
                    "gain_cheap_half": gain_low, "gain_costly_half": gain_high,
                    "spearman_energy_accuracy": _spearman([p[0] for p in points], [p[1] for p in points])})
    text = (f"over {len(points)} architectures spanning {e2 / e0:.1f}x in energy, the cheaper half of the (log) "
            f"energy range raised the best accuracy by {100 * gain_low:.1f} points, the costlier half by {100 * gain_high:.1f}")
    if gain_high < gain_low or (gain_high <= 0 and gain_low <= 0):
        return ClaimResult(3, TEXT[3], SUPPORTED, text, numbers)
    return ClaimResult(3, TEXT[3], NOT_SUPPORTED, text, numbers)


def claim_reduction(rows: list[TrialRow]) -> ClaimResult:
    """Claim 4 from measured energy and best accuracy of reduced vs full architectures."""
    cnn = [r for r in rows if r.family == "simple_cnn"]
    max_blocks = max((r.arch["conv_blocks"] for r in cnn), default=0)
    reductions = [
        (f"conv blocks {max_blocks} -> 1", [r for r in cnn if r.arch["conv_blocks"] == max_blocks],
         [r for r in cnn if r.arch["conv_blocks"] == 1] if max_blocks > 1 else [], _holding("linear_layers", "relu")),
        ("linear layers 7 -> 3", [r for r in rows if r.arch["linear_layers"] == 7], [r for r in rows if r.arch["linear_layers"] == 3],
         _holding("family", "conv_blocks", "relu")),
        ("ReLU on -> off", [r for r in cnn if r.arch["relu"]], [r for r in cnn if not r.arch["relu"]],
         _holding("conv_blocks", "linear_layers")),
        ("SimpleCNN -> DensePolyNN", cnn, [r for r in rows if r.family == "dense_poly"], _holding("linear_layers")),
    ]
    numbers: dict = {}
    evaluable, winners = 0, []
    for name, full, reduced, fixed in reductions:
        entry: dict = {"full_trials": len(full), "reduced_trials": len(reduced)}
        numbers[name] = entry
        if len(full) < CLAIM4_MIN_GROUP or len(reduced) < CLAIM4_MIN_GROUP:
            continue
        evaluable += 1
        entry["energy_ratio"], entry["matched_architectures"] = _energy_ratio(full, reduced, fixed)
        entry["accuracy_cost"] = max(r.accuracy for r in full) - max(r.accuracy for r in reduced)
        if entry["energy_ratio"] is not None and entry["energy_ratio"] <= CLAIM4_HALVED and entry["accuracy_cost"] <= CLAIM4_SMALL_COST:
            winners.append(name)
    parts = [f"{n}: energy x{e['energy_ratio']:.2f} ({e['matched_architectures'] or 'no'} matched pairs), "
             f"best accuracy {-100 * e['accuracy_cost']:+.1f} points"
             for n, e in numbers.items() if e.get("energy_ratio") is not None]
    if evaluable == 0:
        return ClaimResult(4, TEXT[4], INCONCLUSIVE,
                           f"no reduction has at least {CLAIM4_MIN_GROUP} trials on both sides", numbers)
    text = "; ".join(parts)
    if winners:
        return ClaimResult(4, TEXT[4], SUPPORTED, f"{', '.join(winners)} at most {CLAIM4_HALVED}x energy within "
                           f"{100 * CLAIM4_SMALL_COST:.0f} points; {text}", numbers)
    return ClaimResult(4, TEXT[4], NOT_SUPPORTED, f"no reduction reached <= {CLAIM4_HALVED}x energy within "
                       f"{100 * CLAIM4_SMALL_COST:.0f} points; {text}", numbers)


def _holding(*knobs: str):
    """The key of the knobs a comparison holds fixed."""
    return lambda r: tuple(r.arch[k] for k in knobs)


def _energy_ratio(full: list[TrialRow], reduced: list[TrialRow], fixed) -> tuple[float | None, int]:
    """Median energy ratio reduced / full, and how many matched architecture pairs it rests on.

    Where both sides hold architectures that agree on every other knob (``fixed``), the ratio is the
    median over those matched pairs (of per-architecture median energies), so a knob is not blamed for
    what the others cost. Without any matched pair it falls back to the ratio of the group medians.
    """
    def by_key(rows: list[TrialRow]) -> dict:
        groups: dict = {}
        for r in rows:
            groups.setdefault(fixed(r), []).append(r.meas_energy_j)
        return {k: statistics.median(v) for k, v in groups.items()}

    f, r = by_key(full), by_key(reduced)
    matched = [r[k] / f[k] for k in f.keys() & r.keys() if f[k] > 0]
    if matched:
        return statistics.median(matched), len(matched)
    e_full = statistics.median(x.meas_energy_j for x in full)
    return (statistics.median(x.meas_energy_j for x in reduced) / e_full if e_full > 0 else None), 0


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (ties get their average rank); None when undefined."""
    rx, ry = _ranks(x), _ranks(y)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return None
    return statistics.correlation(rx, ry)


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks
