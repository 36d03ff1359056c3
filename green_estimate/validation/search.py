"""The hyper-parameter search: the study's space, one Optuna study per strategy, resumable.

Space (Yarally et al.): learning rate U[1e-5, 0.1] (log-uniform with ``log_lr``), β1 U[0.1, 1) and
β2 U[0.8, 1) — both capped at 0.999, since β = 1 makes Adam divide by zero — and, with
``five_params``, ε U[1e-9, 1e-7] and weight decay U[0, 0.1]. On top, architecture knobs so trials
differ in cost: model family, conv blocks (1..4, fewer if the image is small), linear layers (3..7),
ReLU on/off. Every knob is suggested in every trial (a static space suits the grid and the GP);
knobs a family does not have are ignored when its model is built.

Strategies: ``grid`` is the study's grid — 5 values per float (``low + i·(high-low)/5``, i = 0..4,
the study's formula, which leaves out the upper end), every value of the integer and categorical
knobs — walked at random without repetition by Optuna's GridSampler, so the first N trials are N grid
points drawn at random; ``random`` samples uniformly; ``bayes`` is Optuna's Gaussian-process sampler
(log expected improvement, where the study used probability of improvement); ``tpe`` is Optuna's
TPE. Trials are told to an RDB storage as they finish, so a rerun with the same storage only runs
the trials still missing.

**Several workers** (processes here, or machines sharing a database) run one study. Before a trial
trains it *claims* its place (:func:`claim`): trial numbers are handed out by the storage in
order, so a trial that finds ``trials`` finished-or-running trials below its number is surplus,
and one whose parameters equal a lower-numbered trial's is a duplicate (two samplers drew the same
point, or a resumed random search repeats its seed's first draws); either is pruned before it is
priced or trained, and a surplus one stops its worker. Each worker's sampler gets its own seed
(``seed + worker × 7919``; worker 0 keeps ``seed``), so workers draw different points.
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from green_estimate.errors import UsageError
from green_estimate.meters.base import Meter
from green_estimate.validation.config import STRATEGIES, ValidationConfig
from green_estimate.validation.data import Dataset
from green_estimate.validation.models import architecture_label, build_model, parameter_count
from green_estimate.validation.storage import (  # noqa: F401  (re-exported: runner, workers and tests import them here)
    HEARTBEAT_S, PENDING_WAIT_S, claim, completed_trials, open_storage, release_dead_trials, worker_id)
from green_estimate.validation.training import AdamParams, TrainResult, evaluate, steps_per_epoch, train_measured

PredictFn = Callable[..., dict]
ProgressFn = Callable[[int, int, str], None]

GRID_POINTS = 5
CONV_BLOCKS_MAX = 4
LINEAR_LAYERS_RANGE = (3, 7)
FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "lr": (1e-5, 0.1),
    "beta1": (0.1, 0.999),
    "beta2": (0.8, 0.999),
    "eps": (1e-9, 1e-7),
    "weight_decay": (0.0, 0.1),
}
WORKER_SEED_STRIDE = 7919  # worker k's sampler seed is seed + k × this (a prime, far from small seeds)
DUPLICATE_STREAK_MAX = 50  # a worker whose sampler only repeats others' points gives up


@dataclass(frozen=True)
class SearchSpace:
    """The parameters every trial suggests."""

    families: tuple[str, ...]
    max_conv_blocks: int = CONV_BLOCKS_MAX
    five_params: bool = False
    log_lr: bool = False

    def float_names(self) -> list[str]:
        return ["lr", "beta1", "beta2", *(["eps", "weight_decay"] if self.five_params else [])]

    def choices(self) -> dict[str, list]:
        """Integer and categorical knobs with every value they take."""
        out: dict[str, list] = {"family": list(self.families)}
        if "simple_cnn" in self.families:
            out["conv_blocks"] = list(range(1, self.max_conv_blocks + 1))
            out["relu"] = [True, False]
        out["linear_layers"] = list(range(LINEAR_LAYERS_RANGE[0], LINEAR_LAYERS_RANGE[1] + 1))
        return out

    def grid(self) -> dict[str, list]:
        """The grid: 5 values per float (study's formula), every value of the other knobs."""
        floats = {name: grid_values(*FLOAT_RANGES[name], log=self._log(name)) for name in self.float_names()}
        return {**floats, **self.choices()}

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid().values())

    def suggest(self, trial) -> dict:
        """Ask ``trial`` (an ``optuna.Trial``) for every parameter of the space."""
        params: dict = {}
        for name in self.float_names():
            low, high = FLOAT_RANGES[name]
            params[name] = trial.suggest_float(name, low, high, log=self._log(name))
        for name, values in self.choices().items():
            if name in ("conv_blocks", "linear_layers"):
                params[name] = trial.suggest_int(name, values[0], values[-1])
            else:
                params[name] = trial.suggest_categorical(name, values)
        return params

    def _log(self, name: str) -> bool:
        return name == "lr" and self.log_lr


def grid_values(low: float, high: float, *, log: bool = False, points: int = GRID_POINTS) -> list[float]:
    """The study's grid: ``low + i·(high - low)/points`` for i in 0..points-1 (in log space if ``log``).

    >>> grid_values(0.8, 0.999)
    [0.8, 0.8398, 0.8796, 0.9194, 0.9592]
    """
    if log:
        a, b = math.log(low), math.log(high)
        return [round(math.exp(a + i * (b - a) / points), 12) for i in range(points)]
    return [round(low + i * (high - low) / points, 12) for i in range(points)]


def architecture(params: dict) -> dict:
    """The architecture a trial's params describe, with knobs its family lacks set to 0 / False."""
    family = params.get("family", "simple_cnn")
    cnn = family == "simple_cnn"
    return {
        "family": family,
        "conv_blocks": int(params.get("conv_blocks", 0)) if cnn else 0,
        "linear_layers": int(params["linear_layers"]),
        "relu": bool(params.get("relu", False)) if cnn else False,
    }


def adam_params(params: dict) -> AdamParams:
    """Adam settings from a trial's params (ε and weight decay default to PyTorch's)."""
    return AdamParams(
        lr=float(params["lr"]),
        beta1=float(params["beta1"]),
        beta2=float(params["beta2"]),
        eps=float(params.get("eps", 1e-8)),
        weight_decay=float(params.get("weight_decay", 0.0)),
    )


def make_sampler(strategy: str, space: SearchSpace, *, seed: int, trials: int):
    """The Optuna sampler of one strategy (seeded)."""
    import optuna

    # The GP / TPE fit a model once this many trials exist; the study started after one random round,
    # Optuna defaults to 10: a quarter of the budget, between 2 and 10, keeps both regimes visible.
    startup = max(2, min(10, trials // 4))
    if strategy == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "bayes":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    raise UsageError(f"unknown strategy {strategy!r}: choose from {', '.join(STRATEGIES)}")


def prediction_attrs(prediction: dict, steps: int) -> dict:
    """Flatten a ``prediction@1`` dict into trial user attrs.

    The schema gives no interval for the total time; it is taken as ``steps`` × the per-step interval
    (the model error of one step repeats in every step, so the bounds scale with the steps).
    """
    try:
        per_step, total = prediction["per_step"], prediction["total"]
        e_low, e_high = total["energy_j_interval"]
        t_low, t_high = total.get("time_s_interval") or [steps * v for v in per_step["time_s_interval"]]
        attrs = {
            "pred_energy_j": float(total["energy_j"]),
            "pred_energy_j_low": float(e_low),
            "pred_energy_j_high": float(e_high),
            "pred_time_s": float(total["time_s"]),
            "pred_time_s_low": float(t_low),
            "pred_time_s_high": float(t_high),
            "pred_step_energy_j": float(per_step["energy_j"]),
            "pred_step_time_s": float(per_step["time_s"]),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"the predictor returned no green-estimate/prediction@1 dict (missing or bad {e})") from e
    by_class = prediction.get("by_class") or {}
    attrs["pred_by_class_j_per_step"] = {
        cls: float(v.get("energy_j_per_step", 0.0)) for cls, v in by_class.items() if isinstance(v, dict)
    }
    profile = prediction.get("profile") or {}
    attrs["profile_name"] = str(profile.get("name", ""))
    attrs["profile_provenance"] = str(profile.get("provenance", ""))
    attrs["profile_device"] = str(profile.get("device", ""))
    return attrs


def make_objective(
    config: ValidationConfig,
    strategy: str,
    dataset: Dataset,
    space: SearchSpace,
    meter: Meter,
    predict_fn: PredictFn,
    pace_fn: Callable[[], float] | None = None,
) -> Callable:
    """The Optuna objective: claim, predict, time the machine's pace (``pace_fn``, if given), then
    train under the meter, then test. Returns accuracy."""
    import torch

    steps = config.epochs * steps_per_epoch(dataset.n_train, config.batch_size)
    duplicates = [0]  # this worker's duplicates in a row

    def objective(trial) -> float:
        trial.set_user_attr("worker", worker_id())  # first: a killed worker's trial can be told apart
        params = space.suggest(trial)
        _skip_if_claimed(trial, claim(trial, params, config.trials), duplicates)
        arch = architecture(params)
        build = functools.partial(build_model, arch["family"], dataset.input_shape, dataset.n_classes,
                                  conv_blocks=arch["conv_blocks"], linear_layers=arch["linear_layers"], relu=arch["relu"])
        # The prediction is made before the trial trains, from the model alone.
        prediction = predict_fn(build, input_shape=dataset.input_shape, batch_size=config.batch_size,
                                steps=steps, optimizer="adam")
        for key, value in prediction_attrs(prediction, steps).items():
            trial.set_user_attr(key, value)
        seed = config.seed * 1_000_003 + STRATEGIES.index(strategy) * 10_007 + trial.number
        # How fast the machine runs a fixed reference step now, against when the profile was made:
        # outside the measured window, right before it (green_estimate/pace.py).
        trial.set_user_attr("machine_pace", float(pace_fn()) if pace_fn is not None else None)
        torch.manual_seed(seed)
        model = build().to(config.device)
        result = train_measured(
            model, dataset.x_train, dataset.y_train, adam=adam_params(params), epochs=config.epochs,
            batch_size=config.batch_size, meter=meter, device=config.device, seed=seed,
            warmup_steps=config.warmup_steps,
        )
        # Other processes competing for the cores inflate time and energy; the load says if they did.
        load_1m = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        accuracy = evaluate(model, dataset.x_test, dataset.y_test, device=config.device)
        measured = _measured_attrs(config, strategy, arch, model, result, meter, load_1m, accuracy)
        for key, value in measured.items():
            trial.set_user_attr(key, value)
        return accuracy

    return objective


def _skip_if_claimed(trial: Any, reason: str | None, duplicates: list[int]) -> None:
    """Prune a surplus or duplicate trial before anything is priced or trained (the report leaves it out)."""
    import optuna

    if reason is None:
        duplicates[0] = 0
        return
    trial.set_user_attr("skipped", reason)
    duplicates[0] = 0 if reason == "surplus" else duplicates[0] + 1
    if reason == "surplus" or duplicates[0] >= DUPLICATE_STREAK_MAX:
        trial.study.stop()
    else:
        time.sleep(0.05)  # let the worker that holds this point move on
    raise optuna.TrialPruned(reason)


def _measured_attrs(config: ValidationConfig, strategy: str, arch: dict, model: Any, result: TrainResult,
                    meter: Meter, load_1m: float | None, accuracy: float) -> dict:
    """A trained trial's user attrs: what was trained, what the meter measured, and how loaded the machine was."""
    import torch

    return {
        "strategy": strategy, "architecture": architecture_label(arch), "arch": arch,
        "n_params": parameter_count(model), "steps": result.steps, "epochs": config.epochs,
        "batch_size": config.batch_size, "meas_energy_j": result.energy_j, "meas_time_s": result.time_s,
        "final_loss": result.final_loss if math.isfinite(result.final_loss) else None,
        "meter": meter.name, "provenance": meter.provenance, "meter_device": meter.device,
        "meter_resolution_s": float(getattr(meter, "resolution_s", 0.0)),
        "load_avg_1m": load_1m, "torch_threads": torch.get_num_threads(), "accuracy": accuracy,
        "subnormal_values": result.subnormal_values, "denormal_slowdown": result.denormal_slowdown,
    }


def run_search(
    config: ValidationConfig,
    dataset: Dataset,
    meter: Meter,
    predict_fn: PredictFn,
    progress: ProgressFn | None = None,
    storage=None,
    worker: int = 0,
    pace_fn: Callable[[], float] | None = None,
) -> dict[str, str]:
    """Run (or resume) one study per strategy until each holds ``config.trials`` finished trials.

    Args:
        config: the run's settings.
        dataset: the data every trial trains and tests on.
        meter: measures each trial's training steps.
        predict_fn: prices a trial before it trains (the ``predict_model`` signature).
        progress: called as ``progress(done, total, message)`` after each trial.
        storage: an Optuna storage; None opens ``config.storage_url()``.
        worker: this worker's index among several sharing the storage (seeds its samplers apart).
        pace_fn: times the machine's pace before each trial trains (see :mod:`green_estimate.pace`).

    Returns:
        The study name of each strategy, in the storage at ``config.storage_url()``.
    """
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from green_estimate.validation.models import max_conv_blocks

    storage = storage if storage is not None else open_storage(config.storage_url())
    space = SearchSpace(
        families=config.families,
        max_conv_blocks=min(CONV_BLOCKS_MAX, max_conv_blocks(dataset.input_shape)),
        five_params=config.five_params,
        log_lr=config.log_lr,
    )
    studies = {strategy: _open_study(config, strategy, space, storage, worker) for strategy in config.strategies}
    remaining = {s: max(0, config.trials - len(completed_trials(st))) for s, st in studies.items()}
    total = sum(remaining.values())
    if progress is not None:
        progress(0, total, f"{total} trials to run ({sum(config.trials - r for r in remaining.values())} already done)")
    on_trial = _trial_reporter(progress, total)
    for strategy, study in studies.items():
        if remaining[strategy] == 0:
            continue
        objective = make_objective(config, strategy, dataset, space, meter, predict_fn, pace_fn)
        # The claim in the objective stops this worker at the first surplus trial (pruned duplicates do not
        # count, so no n_trials); MaxTrialsCallback also stops it once the study is full.
        study.optimize(objective, callbacks=[
            MaxTrialsCallback(config.trials, states=(TrialState.COMPLETE,)), on_trial,
        ])
    return {s: study.study_name for s, study in studies.items()}


def _open_study(config: ValidationConfig, strategy: str, space: SearchSpace, storage: Any, worker: int) -> Any:
    """The strategy's study in ``storage`` (created, or loaded to resume), dead trials released."""
    import optuna

    study = optuna.create_study(
        storage=storage, study_name=config.study_name(strategy), direction="maximize", load_if_exists=True,
        sampler=make_sampler(strategy, space, seed=config.seed + worker * WORKER_SEED_STRIDE, trials=config.trials),
    )
    release_dead_trials(study)
    if "experiment" not in study.user_attrs:
        study.set_user_attr("experiment", config.experiment())
        study.set_user_attr("strategy", strategy)
    return study


def _trial_reporter(progress: ProgressFn | None, total: int) -> Callable:
    """An Optuna callback that reports each completed trial to ``progress``."""
    from optuna.trial import TrialState

    done = 0

    def on_trial(study: Any, frozen: Any) -> None:
        nonlocal done
        if frozen.state != TrialState.COMPLETE:  # skipped (surplus, duplicate) or failed: nothing to show
            return
        done += 1
        if progress is not None:
            attrs = frozen.user_attrs
            progress(done, total, (
                f"{attrs.get('strategy', '?')} #{frozen.number} {attrs.get('architecture', '')}: "
                f"acc {attrs.get('accuracy', float('nan')):.3f}, "
                f"{attrs.get('meas_energy_j', float('nan')):.3g} J measured / {attrs.get('pred_energy_j', float('nan')):.3g} J predicted"
            ))

    return on_trial
