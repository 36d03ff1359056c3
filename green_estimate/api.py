"""The public Python API: ``count`` and ``predict`` of a model object, a model factory or a model file.

``green_estimate.count`` and ``green_estimate.predict`` are the CLI's ``count`` and ``predict`` for
code: they take an ``nn.Module`` (or a function that builds one, or a ``file.py[:name]`` spec) and
return the same dataclasses the CLI renders, whose ``to_dict()`` is the ``green-estimate/cost@1`` or
``green-estimate/prediction@1`` document (see docs/api.md and docs/json.md).

A model object is never run, trained or changed: it is copied to the meta device with its
parameters and buffers replaced by meta tensors *before* the copy is made (``copy.deepcopy`` with a
memo), so no weight is copied or allocated; the copy is what the counter steps. This module imports
torch only inside functions.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Union

from green_estimate.errors import ModelLoadError, UsageError
from green_estimate.loading import Workload

if TYPE_CHECKING:
    from green_estimate.counting.report import CostReport
    from green_estimate.predict import PredictSettings
    from green_estimate.prediction import Prediction
    from green_estimate.training_plan import TrainingPlan

ModelLike = Union[Any, Callable[[], Any], str, Path]
"""An ``nn.Module``, a function that builds one, or a MODEL spec (``path/file.py[:name]``, ``pkg.module[:name]``)."""

DEFAULT_BATCH_SIZE = 64


def count(
    model: ModelLike,
    example_input: Any = None,
    *,
    input_shape: tuple[int, ...] | None = None,
    batch_size: int | None = None,
    optimizer: str = "adam",
    precision: str = "fp32",
    target: str = "gpu",
    attention: str = "auto",
    input_dtype: Any = None,
    vocab_size: int | None = None,
    model_kwargs: dict | None = None,
    name: str | None = None,
) -> CostReport:
    """Count the FLOPs and bytes of one training step of ``model`` (forward, loss, backward, optimizer).

    The step runs on the meta device, as ``green-estimate count`` does; nothing is trained.

    Args:
        model: an ``nn.Module`` (copied to meta, see the module docstring), a function returning one
            (called under ``torch.device("meta")``), or a MODEL spec ``path/file.py[:name]``.
        example_input: one batch: a tensor, a tuple of tensors, a dict of tensors (passed as
            keywords), or a function ``batch_size -> such a batch``. Its rows are repeated or cut to
            ``batch_size``. Overrides a model file's ``example_input``.
        input_shape: the per-sample shape instead, e.g. ``(3, 32, 32)`` (not with ``example_input``).
        batch_size: samples per step; default: the example's first dimension, else 64.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``none``.
        precision: ``fp32``, ``tf32``, ``bf16`` or ``fp16`` (autocast mixed precision).
        target: ``gpu`` or ``cpu``, the device the step is counted for (as ``count --target``).
        attention: the attention kernel on a gpu target: ``auto``, ``flash``, ``efficient``, ``math``.
        input_dtype: dtype of the ``input_shape`` input (``"int64"`` or ``torch.long`` for token ids).
        vocab_size: random token ids are drawn below this.
        model_kwargs: keyword arguments for a model file's ``build_model(**model_kwargs)``.
        name: the model's name in the report (default: the spec, or the class or function name).

    Returns:
        A :class:`~green_estimate.counting.report.CostReport`; ``.to_dict()`` is ``green-estimate/cost@1``.

    Raises:
        ModelLoadError: the model cannot be copied, loaded or run on the input.
        UsageError: a bad option (an unknown optimizer, both ``example_input`` and ``input_shape``...).

    Example:
        >>> import torch.nn as nn, green_estimate as ge
        >>> ge.count(nn.Linear(8, 2), input_shape=(8,), batch_size=4).to_dict()["parameters"]
        18
    """
    from green_estimate.counting.counter import count_workload
    from green_estimate.counting.precision import check_target

    workload, example_batch = _workload(model, example_input, input_shape, input_dtype, vocab_size, model_kwargs, name)
    batch = batch_size if batch_size is not None else (example_batch or DEFAULT_BATCH_SIZE)
    return count_workload(workload, batch_size=batch, optimizer=optimizer, precision=precision,
                          target=check_target("cuda" if str(target).strip().lower() == "gpu" else target),
                          attention=attention)


def predict(
    model: ModelLike,
    plan: TrainingPlan | None = None,
    *,
    example_input: Any = None,
    input_shape: tuple[int, ...] | None = None,
    input_dtype: Any = None,
    vocab_size: int | None = None,
    model_kwargs: dict | None = None,
    name: str | None = None,
    settings: PredictSettings | None = None,
    **options: Any,
) -> Prediction:
    """Predict the energy, time, kWh and CO2e of training ``model`` for ``plan``, with intervals.

    As ``green-estimate predict``: the step is counted on the meta device under ``precision`` and priced
    by ``profile`` (a name, a path, ``datasheet:<gpu>``, a ``Profile``, or None: this machine's default).

    Args:
        model, example_input, input_shape, input_dtype, vocab_size, model_kwargs, name: as :func:`count`;
            the example's rows are repeated or cut to ``plan.batch_size``.
        plan: batch size, epochs, samples or steps, gradient accumulation, GPUs
            (default ``TrainingPlan()``: batch 64, one step).
        settings: how to price, a :class:`~green_estimate.predict.PredictSettings`; or its fields as
            keywords (``options``), which override it:
            ``profile``, ``optimizer`` (``adam``, ``adamw``, ``sgd``, ``none``), ``precision``, ``confidence``
            (of the intervals), ``grid_intensity`` (g CO2e/kWh) or ``region`` (a code of the offline table,
            ``"DE"``; neither: no CO2e), and ``nodes``, ``interconnect``, ``fsdp``, ``overlap`` for data
            parallelism over ``plan.gpus`` GPUs (docs/parallel.md).

    Returns:
        A :class:`~green_estimate.prediction.Prediction`; ``.to_dict()`` is ``green-estimate/prediction@1``.

    Raises:
        ModelLoadError, ProfileError, UsageError: with a message that says what to change.

    Example:
        >>> import torch.nn as nn, green_estimate as ge
        >>> p = ge.predict(nn.Linear(8, 2), ge.TrainingPlan(batch_size=4, steps=10), input_shape=(8,))
        >>> p.to_dict()["schema"]
        'green-estimate/prediction@1'
    """
    import dataclasses

    from green_estimate.predict import PredictSettings, predict_workload
    from green_estimate.training_plan import TrainingPlan

    plan = TrainingPlan() if plan is None else plan
    # by its fields, not isinstance: a test or a reload may have imported green_estimate.predict twice
    if not all(hasattr(plan, a) for a in ("batch_size", "epochs", "samples", "steps", "steps_given", "grad_accum", "gpus")):
        raise UsageError(f"plan must be a green_estimate.TrainingPlan, not a {type(plan).__name__}: "
                         "e.g. TrainingPlan(batch_size=64, epochs=10, samples=50000)")
    if set(options) - set(PredictSettings.names()):
        raise UsageError(f"predict() got unknown option(s) {', '.join(sorted(set(options) - set(PredictSettings.names())))}"
                         f": the settings are {', '.join(PredictSettings.names())}")

    def load() -> Workload:
        return _workload(model, example_input, input_shape, input_dtype, vocab_size, model_kwargs, name)[0]

    return predict_workload(load, plan, dataclasses.replace(settings or PredictSettings(), **options))


def _workload(model: ModelLike, example_input: Any, input_shape: tuple[int, ...] | None, input_dtype: Any,
              vocab_size: int | None, model_kwargs: dict | None, name: str | None) -> tuple[Workload, int | None]:
    """The workload of a model object, factory or spec, and the example's batch size (None without one)."""
    import torch

    from green_estimate.loading import load_workload, parse_dtype

    if example_input is not None and input_shape is not None:
        raise UsageError("give example_input or input_shape, not both")
    shape = None if input_shape is None else _shape(input_shape)
    example, example_batch = _example(example_input)
    if isinstance(model, (str, Path)):
        spec = str(model)
        workload = load_workload(spec, input_shape=shape, model_kwargs=model_kwargs,
                                 input_dtype=None if input_dtype is None else str(input_dtype).removeprefix("torch."),
                                 vocab_size=vocab_size)
        if example is not None:
            workload.example_input, workload.input_shape = example, None
        if name is not None:
            workload.name = name
        return workload, example_batch
    if model_kwargs:
        raise UsageError("model_kwargs are the parameters of a model file's build_model(); "
                         "pass them to your own function or class instead")
    if shape is None and example is None:
        raise ModelLoadError("no input for the model: pass example_input=<one batch> or input_shape=(...) "
                             "(the per-sample shape, without the batch)")
    dtype = None if input_dtype is None else parse_dtype(input_dtype, "input_dtype")
    if isinstance(model, torch.nn.Module):
        from green_estimate.counting.counter import has_lazy

        # prebuilt: the counter's CPU fallback re-materialises the meta copy with to_empty(); a copy with
        # uninitialised Lazy parameters is instead treated as built, and the counter materialises it on meta
        workload = Workload(name=name or type(model).__name__, build=lambda: meta_copy(model), example_input=example,
                            input_shape=shape, prebuilt=not has_lazy(model), input_dtype=dtype, vocab_size=vocab_size,
                            buffers_from=model)
    elif callable(model):
        workload = Workload(name=name or getattr(model, "__name__", type(model).__name__), build=_checked(model),
                            example_input=example, input_shape=shape, input_dtype=dtype, vocab_size=vocab_size)
    else:
        raise ModelLoadError(f"cannot count a {type(model).__name__}: pass a torch.nn.Module, a function that "
                             "builds one, or a model file path (path/to/model.py[:name])")
    return workload, example_batch


def meta_copy(model: Any) -> Any:
    """A copy of ``model`` on the meta device, made without copying or allocating a single weight.

    Every parameter and buffer is mapped to a meta tensor of its shape and dtype in ``deepcopy``'s memo,
    so the deep copy takes those instead of copying the data (shared parameters stay shared).
    Uninitialised Lazy parameters become uninitialised ones on meta (the counter materialises them there).
    The model is not changed.

    Raises:
        ModelLoadError: the model cannot be deep-copied (it holds a lock, a file, a process...).
    """
    import copy

    import torch
    from torch.nn.parameter import is_lazy

    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    memo: dict[int, Any] = {}
    for t in (*model.parameters(), *model.buffers()):
        if is_lazy(t):  # materialised later where its placeholder lives: make that meta too
            lazy = UninitializedParameter if isinstance(t, torch.nn.Parameter) else UninitializedBuffer
            memo[id(t)] = lazy(requires_grad=t.requires_grad, device="meta", dtype=t.dtype)
            continue
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = torch.nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, torch.nn.Parameter) else meta
    try:
        return copy.deepcopy(model, memo)
    except Exception as e:
        raise ModelLoadError(
            f"cannot copy {type(model).__name__} to the meta device to count it ({type(e).__name__}: {e}): pass a "
            "function that builds the model instead, e.g. green_estimate.count(lambda: MyModel(), ...)") from e


def _checked(factory: Callable[[], Any]) -> Callable[[], Any]:
    """``factory`` that must return an ``nn.Module``; its errors become :class:`ModelLoadError`."""
    import torch

    label = getattr(factory, "__name__", "the model factory")

    def build() -> Any:
        try:
            built = factory()
        except Exception as e:
            raise ModelLoadError(f"{label}() raised {type(e).__name__}: {e}") from e
        if not isinstance(built, torch.nn.Module):
            raise ModelLoadError(f"{label}() returned a {type(built).__name__}, not a torch.nn.Module")
        return built

    return build


def _shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise UsageError(f"input_shape must be a tuple of ints, e.g. (3, 32, 32); got {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise UsageError(f"input_shape {input_shape!r}: give the per-sample shape, every dimension at least 1")
    return shape


def _example(example_input: Any) -> tuple[Callable[[int], Any] | None, int | None]:
    """``example_input`` as a function of the batch size, and the batch size of a concrete example."""
    import torch

    if example_input is None:
        return None, None
    if callable(example_input) and not isinstance(example_input, torch.Tensor):
        return example_input, None
    values = list(example_input.values()) if isinstance(example_input, dict) else (
        list(example_input) if isinstance(example_input, (tuple, list)) else [example_input])
    first = next((v for v in values if isinstance(v, torch.Tensor) and v.dim() > 0), None)
    if first is None:
        raise UsageError(f"example_input must be a tensor, a tuple or dict of tensors, or a function of the batch "
                         f"size; got {type(example_input).__name__} without a batched tensor")
    rows = int(first.shape[0])

    def at(batch_size: int) -> Any:
        def resize(v: Any) -> Any:  # tensors of the example's batch get batch_size rows; the rest pass as they are
            if not isinstance(v, torch.Tensor) or v.dim() == 0 or v.shape[0] != rows or batch_size == rows:
                return v
            return torch.cat([v] * math.ceil(batch_size / rows))[:batch_size]

        if isinstance(example_input, dict):
            return {k: resize(v) for k, v in example_input.items()}
        if isinstance(example_input, (tuple, list)):
            return tuple(resize(v) for v in example_input)
        return resize(example_input)

    return at, rows
