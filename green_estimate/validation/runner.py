"""One call that runs a whole validation: load data, search under the meter, write the report."""
from __future__ import annotations

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
) -> ValidationReport:
    """Run (or resume) the tuning studies of ``config`` and write the report into ``config.out_dir``.

    Args:
        config: what to run (see :class:`ValidationConfig` and :func:`preset_config`).
        meter: the energy meter every trial's training steps are measured with (not closed here).
        predict_fn: ``predict_fn(build_model, *, input_shape, batch_size, steps, optimizer) -> dict``
            in the ``green-estimate/prediction@1`` schema; called once per trial, before it trains.
        progress: ``progress(done, total, message)`` after each trial.
        dataset: the data to use instead of loading ``config.data`` (tests inject small ones).

    Returns:
        The report of every finished trial in the storage, including those of earlier, interrupted
        runs with the same settings.
    """
    import torch

    data = dataset if dataset is not None else load_dataset(
        config.data, data_dir=config.data_dir, train_samples=config.train_samples, test_samples=config.test_samples
    )
    storage = open_storage(config.storage_url())
    threads_before = torch.get_num_threads()
    threads = config.torch_threads()
    torch.set_num_threads(threads)
    try:
        study_names = run_search(config, data, meter, predict_fn, progress, storage=storage)
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
