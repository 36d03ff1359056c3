"""What ``green-estimate count`` does: count one training step of a MODEL file, with other counters beside it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from green_estimate.counting.report import CostReport


@dataclass
class ModelCount:
    """The counted step, and (``compare``) fvcore's and ptflops' forward counts beside it, explained."""

    report: CostReport
    comparison: Any = None  # compare.Comparison | None

    def to_dict(self) -> dict:
        """``green-estimate/cost@1``, with ``compare`` when the other counters ran."""
        data = self.report.to_dict()
        if self.comparison is not None:
            data["compare"] = self.comparison.to_dict()
        return data


def count_model(model: str, *, batch_size: int = 64, optimizer: str = "adam", precision: str = "fp32",
                target: str = "cuda", attention: str = "auto", input_shape: tuple[int, ...] | None = None,
                input_dtype: str | None = None, vocab_size: int | None = None, compare: bool = False) -> ModelCount:
    """Count MODEL (``file.py[:name]`` or ``pkg.module[:name]``) as :func:`~green_estimate.counting.counter.count_workload`."""
    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import load_workload

    workload = load_workload(model, input_shape=input_shape, input_dtype=input_dtype, vocab_size=vocab_size)
    report = count_workload(workload, batch_size=batch_size, optimizer=optimizer, precision=precision, target=target,
                            attention=attention)
    if not compare:
        return ModelCount(report)
    from green_estimate.compare import compare_counters

    return ModelCount(report, compare_counters(workload, report))
