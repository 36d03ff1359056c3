"""``check``: predict a training run and hold it against its budget (the CI gate).

A :class:`CheckRequest` (model, budget, plan, baseline) is the command line merged over the
``[tool.green-estimate]`` section of pyproject.toml (:func:`check_request`; the file is read by
:mod:`green_estimate.project_config`); the predictor is injected (``predict_fn``, default
:func:`green_estimate.predict.predict`) and the result is a :class:`~green_estimate.verdict.Verdict`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from green_estimate.baseline import BaselineRequest, compare, load_baseline_json
from green_estimate.budget import Budget
from green_estimate.errors import BudgetError, ConfigError
from green_estimate.project_config import ProjectConfig, load_project_config, model_relative_to
from green_estimate.verdict import NO_INTENSITY, Verdict, evaluate

PredictFn = Callable[..., Any]
"""``predict(model, **plan) -> Prediction``; the result has ``to_dict()`` (``predict@1``)."""

#: The keyword arguments of ``predict`` that describe the training run (all optional).
PLAN_OPTIONS = (
    "batch_size",
    "epochs",
    "samples",
    "steps",
    "optimizer",
    "input_shape",
    "input_dtype",
    "vocab_size",
    "profile",
    "precision",
    "confidence",
    "grid_intensity",
    "region",
    "grad_accum",
    "gpus",
    "nodes",
    "interconnect",
    "fsdp",
    "overlap",
)


def default_predict_fn() -> PredictFn:
    """The real predictor, imported only when a check or plan runs (it imports torch)."""
    from green_estimate.predict import predict

    return predict


@dataclass(frozen=True)
class CheckRequest:
    """Everything ``check`` needs: the model, the budget and the training plan for ``predict``.

    Attributes:
        model: a MODEL spec (``path/file.py[:name]`` or ``pkg.module[:name]``).
        budget: the limits to hold the prediction to.
        plan: keyword arguments for ``predict`` (a subset of :data:`PLAN_OPTIONS`).
        config_path: the pyproject.toml the defaults came from, if any.
        baseline: where the baseline comes from, or None for no comparison. A ``max_increase``
            in the budget without one compares with the merge base (``BaselineRequest()``).
    """

    model: str
    budget: Budget
    plan: dict[str, Any] = field(default_factory=dict)
    config_path: str | None = None
    baseline: BaselineRequest | None = None


def run_check(request: CheckRequest, predict_fn: PredictFn | None = None) -> Verdict:
    """Predict the training run of ``request`` and hold it against its budget.

    With a baseline (or a ``max_increase``, which implies the merge base) the same model spec and
    plan are priced at the base too (or read from a saved prediction), and the increase is held
    against ``budget.max_increase``.

    Args:
        request: model, budget, plan and baseline.
        predict_fn: the predictor; defaults to :func:`green_estimate.predict.predict`.

    Raises:
        BudgetError: a CO2e budget without ``grid_intensity`` or ``region``.
        BaselineError: no git repository or an unknown ref, a bad saved baseline, another profile.
        GreenEstimateError: whatever ``predict`` raises (a model that does not load, no profile...).
    """
    plan = request.plan
    if request.budget.co2e_g is not None and plan.get("grid_intensity") is None and plan.get("region") is None:
        raise BudgetError(NO_INTENSITY)
    baseline = request.baseline
    if baseline is None and request.budget.max_increase is not None:
        baseline = BaselineRequest()
    # a bad saved baseline fails before the (slower) prediction
    saved = None if baseline is None or baseline.json_path is None else load_baseline_json(baseline.json_path)
    predict = predict_fn or default_predict_fn()
    prediction = predict(request.model, **plan).to_dict()
    comparison = None
    if baseline is not None:
        base = saved or baseline.fetch(request.model, plan, predict)
        comparison = compare(prediction, base, request.budget.max_increase)
    return evaluate(prediction, request.budget, config_path=request.config_path, comparison=comparison)


def check_request(options: Mapping[str, Any], config: ProjectConfig) -> CheckRequest:
    """Merge command-line options over the project defaults into a :class:`CheckRequest`.

    Args:
        options: ``model``, ``budget``, ``co2_budget``, ``conservative``, ``max_increase``,
            ``baseline`` (a git ref), ``baseline_json`` and the :data:`PLAN_OPTIONS`, in snake_case;
            None means "not given on the command line".
        config: the project defaults.

    Raises:
        ConfigError: no model, no budget or no training plan on the command line nor in the file.
        BudgetError: a budget that cannot be parsed; both a ref and a saved baseline.
    """
    names = ("budget", "co2_budget", "conservative", "max_increase", *PLAN_OPTIONS)
    pick = config.options({name: options.get(name) for name in names}).get
    model = options.get("model")
    if model is None and "model" in config.values:
        model = model_relative_to(config.values["model"], config.path)
    if model is None:
        raise ConfigError(
            f"no MODEL given, and {config.where()}: pass MODEL (e.g. model.py) or set model = \"model.py\" there"
        )
    energy, co2e, increase = pick("budget"), pick("co2_budget"), pick("max_increase")
    if energy is None and co2e is None and increase is None:
        raise ConfigError(
            f"no budget given, and {config.where()}: pass --budget (e.g. 2kWh), --co2-budget (e.g. 500g) or "
            "--max-increase (e.g. 10%), or set budget = \"2kWh\" in [tool.green-estimate]"
        )
    budget = Budget.parse(energy, co2e, conservative=bool(pick("conservative")), max_increase=increase)
    plan = {name: value for name, value in ((n, pick(n)) for n in PLAN_OPTIONS) if value is not None}
    if "samples" not in plan and "steps" not in plan:
        # predict prices one step per epoch without them; a gate on that passes anything
        raise ConfigError(
            f"no training plan given, and {config.where()}: pass --samples N (the training-set size, with "
            "--epochs) or --steps N, or set samples or steps in [tool.green-estimate]"
        )
    ref, saved = options.get("baseline"), options.get("baseline_json")
    if ref is None and saved is None:
        ref = config.values.get("baseline")  # the command line's --baseline-json overrides the file's ref
    baseline = None if ref is None and saved is None else BaselineRequest(ref=ref, json_path=saved)
    if "input_shape" in plan:
        plan["input_shape"] = tuple(plan["input_shape"])
    return CheckRequest(
        model=str(model),
        budget=budget,
        plan=plan,
        config_path=None if config.path is None else str(config.path),
        baseline=baseline,
    )


def check(options: Mapping[str, Any], *, cwd: Path, config: Path | None = None,
          predict_fn: PredictFn | None = None) -> Verdict:
    """What ``green-estimate check`` does: ``options`` (snake_case, None = not given) over the defaults of
    the pyproject.toml at ``config`` or nearest above ``cwd``, predicted and held to the budget.

    Raises:
        ConfigError, BudgetError, BaselineError, GreenEstimateError: as :func:`run_check` and
            :func:`check_request`.
    """
    return run_check(check_request(options, load_project_config(cwd, config)), predict_fn)
