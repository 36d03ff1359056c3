"""Adam's square roots over embedding rows no step has looked up yet, which a CPU can take far longer over.

An embedding table's dense gradient is zero in every row the step did not look up, so Adam's second
moment (``exp_avg_sq``) of a row stays exactly 0 until the row is first looked up — and Adam takes its
square root over the whole table in every step. PyTorch's CPU ``sqrt`` is slow on zeros: on a 2-vCPU
AMD EPYC (torch 2.13.0+cpu) a ``torch.sqrt`` of 3.2 M zeros took 4.2–6.9 ms, of 3.2 M random numbers
0.7–1.2 ms (NumPy's took 1.2–1.9 ms over the zeros). In the benchmark's ``sparse-8-tables`` (eight
embedding bags of 1,000–200,000 rows, 256 indices each per step, 99.3% of their second moments zero)
one step took 34.6 and 37.0 ms as trained, 19.1 and 20.2 ms after the zeros were raised to 1e-12
(measured, docs/performance.md).

A profile cannot price this for a given run: how many rows are still zero depends on the data and on
how long the run has trained, not on the step (calibration's own embedding networks train some
tables with most rows still 0, some with every row looked up). So :func:`zero_moment_note` says how much
longer a step can take early in a run, from this CPU's own extra time per zero (measured in about
20 ms, once per process).
"""
from __future__ import annotations

import functools
import time
from typing import Callable

from green_estimate.counting.report import CostReport

# Optimizers that take the square root of a per-element second moment in every step
SQRT_OPTIMIZERS = ("adam", "adamw")
# Elements and repeats of the timing of sqrt over zeros against sqrt over non-zeros
SAMPLE_ELEMENTS = 1 << 20
SAMPLE_REPEATS = 7
# The smallest share of the step worth a note
NOTE_SHARE = 0.05


def zero_rows(report: CostReport) -> list[tuple[str, int, int]]:
    """``(module path, rows, elements)`` of the tables with rows the step does not look up, the elements
    those rows hold at the least after the step's own lookups (``rows - indices`` rows, when every index
    of the step is another row)."""
    looked_up: dict[str, int] = {}
    for op in report.ops:
        if op.phase == "forward" and op.cls == "embedding" and op.indices:
            looked_up[op.module] = looked_up.get(op.module, 0) + op.indices
    out = []
    for name, rows, elements in report.lookup_tables:
        indices = looked_up.get(name)
        if indices and indices < rows:  # a table no counted op looked up is left out: its path is unknown
            out.append((name, rows, elements * (rows - indices) // rows))
    return out


@functools.lru_cache(maxsize=1)
def sqrt_zero_extra_s_per_element() -> float:
    """Seconds PyTorch's CPU ``sqrt`` takes per zero element beyond its time per non-zero one, measured
    on this CPU now: the shortest of :data:`SAMPLE_REPEATS` timings of each, taken in turn into one
    preallocated output (so neither a slow moment nor the allocator's pages fall on one side only); 0
    when zeros are not slower."""
    import torch

    zeros, ones, out = torch.zeros(SAMPLE_ELEMENTS), torch.ones(SAMPLE_ELEMENTS), torch.empty(SAMPLE_ELEMENTS)
    best = {"zeros": float("inf"), "ones": float("inf")}
    for round_ in range(SAMPLE_REPEATS + 2):  # the first two rounds warm up
        for name, x in (("zeros", zeros), ("ones", ones)):
            t0 = time.perf_counter()
            torch.sqrt(x, out=out)
            if round_ >= 2:
                best[name] = min(best[name], time.perf_counter() - t0)
    return max(0.0, (best["zeros"] - best["ones"]) / SAMPLE_ELEMENTS)


def zero_moment_note(report: CostReport, step_time_s: float,
                     extra_s_per_element: Callable[[], float] | None = None) -> str | None:
    """A note when Adam's square roots over embedding rows not yet looked up could lengthen a CPU step by
    at least :data:`NOTE_SHARE` of ``step_time_s`` (the predicted step); ``None`` otherwise.

    ``extra_s_per_element``: what measures this CPU's extra seconds per zero (default
    :func:`sqrt_zero_extra_s_per_element`).
    """
    if report.optimizer not in SQRT_OPTIMIZERS or report.target != "cpu":
        return None
    tables = zero_rows(report)
    if not tables or step_time_s <= 0:
        return None
    elements = sum(e for _, _, e in tables)
    per_element_s = (extra_s_per_element or sqrt_zero_extra_s_per_element)()
    extra_s = elements * per_element_s
    if extra_s < NOTE_SHARE * step_time_s:
        return None
    rows = sum(r for _, r, _ in tables)
    tables_text = (f"{len(tables)} embedding tables ({rows:,} rows) look up fewer rows per step than they have"
                   if len(tables) > 1 else f"An embedding table ({rows:,} rows) looks up fewer rows per step than it has")
    return (f"{tables_text}: Adam's "
            f"second moment of a row stays 0 until the row is first looked up, and this CPU takes "
            f"{per_element_s * 1e9:.1f} ns longer per zero over its square root (measured just now). Early in a run, "
            f"while most rows have never been looked up, a step's square roots can take up to {extra_s * 1e3:.1f} ms "
            f"({extra_s / step_time_s:.0%} of the predicted step) longer than over non-zero moments; how many rows "
            "are still zero depends on the data and the run's progress, which the prediction does not know "
            "(docs/predict.md).")
