"""Several worker processes running one validation's studies through one shared Optuna storage.

Each worker is a fresh process (``spawn``: no forked torch thread pools) that opens the storage, its
own meter (``meter_factory()``) and runs :func:`~green_estimate.validation.search.run_search` with
its own index, so its samplers draw apart; the claims in the objective keep trials from being run
twice or beyond ``trials``. The parent only watches the storage for progress and, when every
worker is done, the caller writes the report from the storage. Workers on other machines do the
same by running ``validate`` with the same ``--storage`` URL (see docs/validation.md).
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Any, Callable

from green_estimate.validation.config import ValidationConfig
from green_estimate.validation.data import Dataset
from green_estimate.validation.search import PredictFn, ProgressFn

POLL_S = 0.5


def run_workers(
    config: ValidationConfig,
    *,
    workers: int,
    meter_factory: Callable[[], Any],
    predict_fn: PredictFn,
    dataset: Dataset | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, str]:
    """Run the studies of ``config`` from ``workers`` processes; returns strategy → study name.

    ``meter_factory`` and ``predict_fn`` (and ``dataset``) are sent to each process, so they must be
    picklable (module-level functions, ``functools.partial`` of them, plain objects). A worker's
    error is re-raised here after the others were stopped.
    """
    import optuna

    threads = max(1, config.torch_threads() // workers)
    verbosity = optuna.logging.get_verbosity()
    context = multiprocessing.get_context("spawn")
    names = {s: config.study_name(s) for s in config.strategies}
    # the schema and the studies are made here, once: workers creating SQLite tables at once collide
    from green_estimate.validation.search import open_storage

    storage = open_storage(config.storage_url())
    for name in names.values():
        optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_work, config, i, meter_factory, predict_fn, dataset, threads, verbosity)
                   for i in range(workers)]
        try:
            pending = set(futures)
            while pending:
                _, pending = concurrent.futures.wait(pending, timeout=POLL_S,
                                                     return_when=concurrent.futures.FIRST_EXCEPTION)
                if progress is not None:
                    done = _finished(config, names)
                    progress(done, config.trials * len(names), f"{done} trials finished by {workers} workers")
                if any(f.done() and f.exception() is not None for f in futures):
                    break
            for f in futures:
                if f.done() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        for f in futures:
            f.result()
    return names


def _finished(config: ValidationConfig, names: dict[str, str]) -> int:
    import optuna
    from optuna.trial import TrialState

    from green_estimate.validation.search import open_storage

    total = 0
    storage = open_storage(config.storage_url())
    for name in names.values():
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:  # a worker has not created it yet
            continue
        total += len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return total


def _work(config: ValidationConfig, index: int, meter_factory: Callable[[], Any], predict_fn: PredictFn,
          dataset: Dataset | None, threads: int, verbosity: int) -> dict[str, str]:
    """One worker process: its own threads, data, storage connection and meter."""
    import optuna
    import torch

    from green_estimate.validation.data import load_dataset
    from green_estimate.validation.search import open_storage, run_search

    optuna.logging.set_verbosity(verbosity)
    torch.set_num_threads(threads)
    data = dataset if dataset is not None else load_dataset(
        config.data, data_dir=config.data_dir, train_samples=config.train_samples, test_samples=config.test_samples)
    meter = meter_factory()
    try:
        return run_search(config, data, meter, predict_fn, None, storage=open_storage(config.storage_url()), worker=index)
    finally:
        meter.close()
