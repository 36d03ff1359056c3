"""One call that runs a whole validation: load data, search under the meter, write the report."""
from __future__ import annotations

from typing import Callable

from green_estimate.errors import UsageError
from green_estimate.meters.base import Meter
from green_estimate.validation.config import ValidationConfig
from green_estimate.validation.data import Dataset, load_dataset
from green_estimate.validation.report import ValidationReport, generate_report
from green_estimate.validation.search import PredictFn, ProgressFn, open_storage, run_search


def run_validation(
    config: ValidationConfig,
    *,
    meter: Meter,
    predict_fn: PredictFn,
    progress: ProgressFn | None = None,
    dataset: Dataset | None = None,
    meter_factory: Callable[[], Meter] | None = None,
    pace_fn: Callable[[], float] | None = None,
) -> ValidationReport:
    """Run (or resume) the tuning studies of ``config`` and write the report into ``config.out_dir``.

    Args:
        config: what to run (see :class:`ValidationConfig` and :func:`preset_config`).
        meter: the energy meter every trial's training steps are measured with (not closed here).
        predict_fn: ``predict_fn(build_model, *, input_shape, batch_size, steps, optimizer) -> dict``
            in the ``green-estimate/prediction@1`` schema; called once per trial, before it trains.
        progress: ``progress(done, total, message)`` after each trial.
        dataset: the data to use instead of loading ``config.data`` (tests inject small ones).
        meter_factory: with ``config.workers > 1``, makes each worker process its own meter (picklable,
            like ``predict_fn``); ``meter`` then only names the meter in the report.
        pace_fn: returns the machine's pace (:class:`~green_estimate.pace.PaceProbe`), timed before
            each trial; None, or several workers (whose own load would set it), records none.

    Returns:
        The report of every finished trial in the storage, including those of earlier, interrupted
        runs with the same settings.
    """
    import torch

    if config.workers > 1:
        return _run_workers(config, meter=meter, meter_factory=meter_factory, predict_fn=predict_fn,
                            progress=progress, dataset=dataset)
    data = dataset if dataset is not None else load_dataset(
        config.data, data_dir=config.data_dir, train_samples=config.train_samples, test_samples=config.test_samples
    )
    storage = open_storage(config.storage_url())
    threads_before = torch.get_num_threads()
    threads = config.torch_threads()
    torch.set_num_threads(threads)
    try:
        study_names = run_search(config, data, meter, predict_fn, progress, storage=storage, pace_fn=pace_fn)
    finally:
        torch.set_num_threads(threads_before)
    return generate_report(
        storage,
        study_names,
        config.out_dir,
        config={**config.to_dict(), "torch_threads": threads, "study_names": study_names},
        dataset=data.to_dict(),
        meter={"name": meter.name, "provenance": meter.provenance, "device": meter.device,
               "resolution_s": getattr(meter, "resolution_s", None)},
    )


def _meter_info(meter: Meter) -> dict:
    return {"name": meter.name, "provenance": meter.provenance, "device": meter.device,
            "resolution_s": getattr(meter, "resolution_s", None)}


def _run_workers(config: ValidationConfig, *, meter: Meter, meter_factory: Callable[[], Meter] | None,
                 predict_fn: PredictFn, progress: ProgressFn | None, dataset: Dataset | None) -> ValidationReport:
    from green_estimate.validation.workers import run_workers

    if meter_factory is None:
        raise UsageError(f"--workers {config.workers}: each worker process needs its own meter: pass meter_factory")
    data = dataset if dataset is not None else load_dataset(
        config.data, data_dir=config.data_dir, train_samples=config.train_samples, test_samples=config.test_samples
    )
    study_names = run_workers(config, workers=config.workers, meter_factory=meter_factory, predict_fn=predict_fn,
                              dataset=dataset, progress=progress)
    threads = max(1, config.torch_threads() // config.workers)
    return generate_report(
        open_storage(config.storage_url()), study_names, config.out_dir,
        config={**config.to_dict(), "torch_threads": threads, "study_names": study_names},
        dataset=data.to_dict(), meter=_meter_info(meter),
    )
