"""The PyTorch Lightning callback: predict a fit from the trainer's plan, measure it, record it.

Example:
    >>> from green_estimate.callbacks.lightning import GreenEstimateCallback
    >>> trainer = lightning.pytorch.Trainer(max_epochs=3, callbacks=[GreenEstimateCallback(runs_file="runs.csv")])
    >>> trainer.fit(module, loader)
"""
from __future__ import annotations

from typing import Any

from green_estimate.callbacks.core import FitPlan, TrackedCallback, log, missing_framework, optimizer_name

try:
    from lightning.pytorch import Callback
except ImportError as e:  # pragma: no cover - exercised by the test that hides the package
    raise missing_framework("lightning", "lightning") from e

#: Lightning's ``Trainer(precision=...)`` values the counter can replay.
PRECISIONS = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16", "16-mixed": "fp16"}


def fit_plan(trainer: Any, batch: Any) -> FitPlan:
    """The trainer's plan: its own count of optimizer steps (``estimated_stepping_batches``: epochs,
    ``max_steps``, ``limit_train_batches`` and ``accumulate_grad_batches`` applied), the loader's batch
    size and dataset length, the optimizer and the precision."""
    from green_estimate.callbacks.core import split_batch

    loader = trainer.train_dataloader
    batch_size = getattr(loader, "batch_size", None)
    if not batch_size:  # a batch sampler: the batch's own first dimension
        args, kwargs = split_batch(batch)
        first = next(iter(list(args) + list(kwargs.values())))
        batch_size = int(first.shape[0])
    dataset = getattr(loader, "dataset", None)
    try:
        samples = len(dataset) if dataset is not None else None
    except TypeError:  # an iterable dataset has no length
        samples = None
    precision = PRECISIONS.get(str(trainer.precision))
    if precision is None:
        log.warning("green-estimate prices Lightning precision %s as fp32: it replays 32-true, bf16-mixed and "
                    "16-mixed", trainer.precision)
        precision = "fp32"
    optimizers = trainer.optimizers
    return FitPlan(batch_size=int(batch_size), steps=int(trainer.estimated_stepping_batches),
                   epochs=int(trainer.max_epochs) if trainer.max_epochs and trainer.max_epochs > 0 else 1,
                   samples=samples, grad_accum=int(trainer.accumulate_grad_batches),
                   optimizer=optimizer_name(optimizers[0] if optimizers else None), precision=precision,
                   devices=int(trainer.world_size))


class GreenEstimateCallback(TrackedCallback, Callback):
    """Predicts the fit when training starts, measures it, and logs and records predicted vs measured.

    Args:
        runs_file: a runs file (``.csv`` or ``.jsonl``) each finished fit is appended to, for
            ``green-estimate calibrate --from-runs``; None records nothing.
        model_ref: how calibration rebuilds the model: ``file.py[:name]`` or ``package.module[:name]``
            (default: the LightningModule's ``module:ClassName``).
        profile, meter, model_args, run_name, confidence: see :class:`~green_estimate.callbacks.core.RunTracker`.

    The model counted is the LightningModule's ``forward`` on the batch's first element (a dict batch:
    as keywords), with the loss it returns or a cross-entropy on its logits. After the fit,
    ``callback.prediction`` holds the ``prediction@1`` dict and ``callback.result`` a
    :class:`~green_estimate.callbacks.core.FitResult`; the numbers also go to the trainer's loggers.
    Only the global-zero process predicts, measures and records.
    """

    source = "green-estimate lightning callback"

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        batch = next(iter(trainer.train_dataloader))
        self.tracker.start(pl_module, batch, fit_plan(trainer, batch), keep=(trainer,))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        result = self.tracker.stop(int(trainer.global_step))
        for logger in trainer.loggers:
            logger.log_metrics(result.metrics(), step=int(trainer.global_step))
