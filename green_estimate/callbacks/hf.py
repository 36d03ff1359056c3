"""The Hugging Face ``Trainer`` callback: predict a run from its arguments, measure it, record it.

Example:
    >>> from green_estimate.callbacks.hf import GreenEstimateCallback
    >>> trainer = transformers.Trainer(model, args, train_dataset=data,
    ...                                callbacks=[GreenEstimateCallback(runs_file="runs.csv")])
    >>> trainer.train()
"""
from __future__ import annotations

from typing import Any

from green_estimate.callbacks.core import FitPlan, TrackedCallback, log, missing_framework, optimizer_name

try:
    from transformers import TrainerCallback
except ImportError as e:  # pragma: no cover - exercised by the test that hides the package
    raise missing_framework("transformers", "hf") from e


def fit_plan(args: Any, state: Any, optimizer: Any, loader: Any) -> FitPlan:
    """The Trainer's plan: its own count of optimizer steps (``state.max_steps``: epochs or
    ``max_steps`` and gradient accumulation applied), the per-device batch, the dataset's length,
    the optimizer and ``bf16``/``fp16``."""
    dataset = getattr(loader, "dataset", None)
    try:
        samples = len(dataset) if dataset is not None else None
    except TypeError:
        samples = None
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    return FitPlan(batch_size=int(args.per_device_train_batch_size), steps=int(state.max_steps),
                   epochs=max(int(round(state.num_train_epochs or 1)), 1), samples=samples,
                   grad_accum=int(args.gradient_accumulation_steps), optimizer=optimizer_name(optimizer),
                   precision=precision, devices=int(args.world_size))


class GreenEstimateCallback(TrackedCallback, TrainerCallback):
    """Predicts the run when ``trainer.train()`` starts, measures it, and logs and records predicted vs measured.

    Args:
        runs_file: a runs file (``.csv`` or ``.jsonl``) each finished run is appended to, for
            ``green-estimate calibrate --from-runs``; None records nothing.
        model_ref: how calibration rebuilds the model: ``file.py[:name]`` or ``package.module[:name]``
            (default: the model class's ``module:ClassName``).
        profile, meter, model_args, run_name, confidence: see :class:`~green_estimate.callbacks.core.RunTracker`.

    The step counted is ``model(**batch)`` on the first batch of the Trainer's loader, with the loss
    the model returns (give ``labels``). After training, ``callback.prediction`` holds the
    ``prediction@1`` dict and ``callback.result`` a :class:`~green_estimate.callbacks.core.FitResult`;
    the numbers are logged to the ``green_estimate.callbacks`` logger. Only the main process
    predicts, measures and records.
    """

    source = "green-estimate hf trainer callback"

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       train_dataloader: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if model is None or train_dataloader is None:
            log.warning("green-estimate: the Trainer gave no model or loader to its callbacks; nothing predicted")
            return
        batch = next(iter(train_dataloader))
        self.tracker.start(model, batch, fit_plan(args, state, optimizer, train_dataloader))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not self.tracker.started:
            return
        self.tracker.stop(int(state.global_step))
