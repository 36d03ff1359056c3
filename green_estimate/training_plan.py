"""How much training a prediction is for: batch, epochs, samples or steps, accumulation, GPUs."""
from __future__ import annotations

import math
from dataclasses import dataclass

from green_estimate.errors import UsageError


@dataclass(frozen=True, init=False)
class TrainingPlan:
    """How much training: steps = ceil(samples / (batch × grad_accum × gpus)) × epochs, or ``steps``.

    A step is one optimizer update: ``grad_accum`` micro-batches of ``batch_size`` samples on each of
    ``gpus`` data-parallel GPUs. ``TrainingPlan(batch_size=4, steps=10)`` fixes the number of steps;
    ``steps_given`` is the same field under its stored name (``plan.steps`` is always the count in
    effect, computed from ``samples`` and ``epochs`` when no steps were given).

    Example:
        >>> TrainingPlan(batch_size=512, epochs=25, samples=60000).steps
        2950
    """

    batch_size: int = 64
    epochs: int = 1
    samples: int | None = None
    steps_given: int | None = None
    grad_accum: int = 1
    gpus: int = 1

    def __init__(self, batch_size: int = 64, epochs: int = 1, samples: int | None = None,
                 steps_given: int | None = None, grad_accum: int = 1, gpus: int = 1, *,
                 steps: int | None = None) -> None:
        if steps is not None and steps_given is not None and steps != steps_given:
            raise UsageError(f"TrainingPlan(steps={steps}, steps_given={steps_given}): give the steps once")
        for name, value in (("batch_size", batch_size), ("epochs", epochs), ("samples", samples),
                            ("steps_given", steps if steps is not None else steps_given), ("grad_accum", grad_accum),
                            ("gpus", gpus)):
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs}: must be at least 1")
        if self.samples is not None and self.samples < 1:
            raise UsageError(f"--samples {self.samples}: must be at least 1 (the training-set size)")
        if self.steps_given is not None and self.steps_given < 1:
            raise UsageError(f"--steps {self.steps_given}: must be at least 1")
        if self.grad_accum < 1:
            raise UsageError(f"--grad-accum {self.grad_accum}: must be at least 1 (micro-batches per optimizer step)")
        if self.gpus < 1:
            raise UsageError(f"--gpus {self.gpus}: must be at least 1")

    @property
    def samples_per_step(self) -> int:
        """Samples in one optimizer step over all GPUs (the global batch)."""
        return self.batch_size * self.grad_accum * self.gpus

    @property
    def steps(self) -> int:
        if self.steps_given is not None:
            return self.steps_given
        if self.samples is None:
            return self.epochs  # one step per epoch: no dataset size was given
        # a DataLoader without drop_last; the last step of an epoch may hold fewer micro-batches
        return math.ceil(self.samples / self.samples_per_step) * self.epochs

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "epochs": self.epochs, "samples": self.samples, "steps": self.steps,
                "grad_accum": self.grad_accum, "gpus": self.gpus, "samples_per_step": self.samples_per_step}
