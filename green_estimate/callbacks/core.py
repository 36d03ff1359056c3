"""What the training-loop callbacks share: predict a fit from its plan, measure it, record the run.

A framework callback (:mod:`green_estimate.callbacks.lightning`, :mod:`green_estimate.callbacks.hf`)
reads the trainer's plan into a :class:`FitPlan` and hands the model and one real batch to a
:class:`RunTracker`, which

1. counts one training step of a *meta-device copy* of the model on that batch (no weights are
   copied and the real model is never stepped) and prices the whole plan with a profile;
2. opens the best meter here (NVML for the model's GPU, else RAPL, else the estimate meter) and
   reads it when training starts and ends;
3. logs predicted against measured and appends the run to a runs file that
   ``green-estimate calibrate --from-runs`` reads.

Nothing here imports a training framework, and nothing prints: messages go to the
``green_estimate.callbacks`` logger (and, through the callback, to the framework's loggers).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import GreenEstimateError, UsageError

log = logging.getLogger("green_estimate.callbacks")

#: Optimizer classes the counter can replay, by class name (lower case).
OPTIMIZER_NAMES = {"adam": "adam", "adamw": "adamw", "sgd": "sgd"}


def missing_framework(package: str, extra: str) -> UsageError:
    """The error a callback module raises when its framework is not installed."""
    return UsageError(f"the {extra} callback needs the `{package}` package, which is not installed: "
                      f"run `pip install 'green-estimate[{extra}]'`")


def optimizer_name(optimizer: Any) -> str:
    """``adam``, ``adamw`` or ``sgd`` for a torch optimizer of that class; ``adam`` (logged) for any other."""
    if optimizer is None:
        return "adam"
    cls = type(optimizer).__name__
    inner = getattr(optimizer, "optimizer", None)  # accelerate and Lightning wrap the torch optimizer
    if cls.lower() not in OPTIMIZER_NAMES and inner is not None:
        cls = type(inner).__name__
    name = OPTIMIZER_NAMES.get(cls.lower())
    if name is None:
        log.warning("green-estimate counts %s as Adam: it replays only Adam, AdamW and SGD updates", cls)
        return "adam"
    return name


@dataclass(frozen=True)
class FitPlan:
    """What a trainer is about to do, in the terms of :class:`~green_estimate.predict.TrainingPlan`.

    Attributes:
        batch_size: samples in one micro-batch on one device.
        steps: optimizer steps the trainer plans (its own count: epochs, ``max_steps``, limits and
            gradient accumulation already applied).
        epochs: planned epochs (information; ``steps`` rules).
        samples: the training set's length, None when the loader has none.
        grad_accum: micro-batches per optimizer step.
        optimizer: ``adam``, ``adamw`` or ``sgd``.
        precision: ``fp32``, ``bf16`` or ``fp16``.
        devices: data-parallel processes.
    """

    batch_size: int
    steps: int
    epochs: int = 1
    samples: int | None = None
    grad_accum: int = 1
    optimizer: str = "adam"
    precision: str = "fp32"
    devices: int = 1

    def training_plan(self) -> Any:
        from green_estimate.training_plan import TrainingPlan

        return TrainingPlan(batch_size=self.batch_size, epochs=max(self.epochs, 1), samples=self.samples,
                            steps_given=self.steps, grad_accum=self.grad_accum, gpus=self.devices)


def split_batch(batch: Any) -> tuple[tuple, dict]:
    """A loader's batch as the model's inputs: a dict → keywords; a tuple/list → its first element
    (``(x, y)``: the model takes ``x``); a tensor → itself."""
    if isinstance(batch, dict) or (hasattr(batch, "keys") and hasattr(batch, "__getitem__")):
        return (), dict(batch)
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise UsageError("the training loader gave an empty batch: green-estimate cannot count a step of it")
        return (batch[0],), {}
    return (batch,), {}


def meta_copy(model: Any, keep: tuple = ()) -> Any:
    """A copy of ``model`` whose parameters and buffers live on the meta device (no weights copied).

    ``keep``: objects the model refers to that must be shared, not copied (the trainer).
    """
    import torch

    memo: dict[int, Any] = {id(k): k for k in keep if k is not None}
    for p in model.parameters():
        memo[id(p)] = torch.nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def _first_rows(value: Any, rows: int) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value[:rows] if value.dim() > 0 else value
    if isinstance(value, (tuple, list)):
        return type(value)(_first_rows(v, rows) for v in value)
    if isinstance(value, dict):
        return {k: _first_rows(v, rows) for k, v in value.items()}
    return value


def count_fit_step(model: Any, batch: Any, plan: FitPlan, *, name: str, keep: tuple = (), target: str = "cpu") -> Any:
    """Count one training step of ``model`` on ``batch`` with the counter of ``count``.

    The step runs on a meta copy (no weights copied; the real model is never stepped); small integer
    inputs keep their values there (green_estimate/counting/shadow.py). A model that still cannot run
    on the meta device (a ``.item()`` on a value meta does not keep, such as a mask over more than
    65,536 elements) is counted on a CPU copy with random weights at batch 1 and 2 and scaled, as
    ``count`` does for files.
    """
    from green_estimate.counting.counter import CPU_FALLBACK_MAX_PARAMS, _is_meta_limitation as is_meta_limitation, _to_device, count_step, count_workload
    from green_estimate.errors import ModelLoadError
    from green_estimate.loading import Workload

    args, kwargs = split_batch(batch)

    def example_input(rows: int) -> Any:
        return _first_rows(kwargs, rows) if kwargs else _first_rows(args, rows)

    step = {"batch_size": plan.batch_size, "optimizer": plan.optimizer, "precision": plan.precision, "target": target}
    try:
        meta = meta_copy(model, keep)
        margs, mkwargs = (_to_device(a, "meta") for a in args), {k: _to_device(v, "meta") for k, v in kwargs.items()}
        return count_step(meta, tuple(margs), kwargs=mkwargs, name=name, **step)
    except ModelLoadError as e:
        if e.__cause__ is None or not is_meta_limitation(e.__cause__):
            raise
        n_params = sum(p.numel() for p in model.parameters())
        if n_params > CPU_FALLBACK_MAX_PARAMS:
            raise ModelLoadError(f"{name} cannot run on the meta device ({e}) and with {n_params:,} parameters "
                                 "it is too large to count on a CPU copy") from e
    # buffers (position ids, running statistics) must keep their values: a real copy, not an empty one
    report = count_workload(Workload(name=name, build=lambda: copy.deepcopy(model, {id(k): k for k in keep}),
                                     example_input=example_input, prebuilt=True), device="cpu", **step)
    report.notes.append("Counted on a CPU copy of the model: it cannot run on the meta device.")
    return report


def per_sample_shape(batch: Any) -> tuple[int, ...] | None:
    """The per-sample shape of a positional batch's model input; None for keyword (dict) batches."""
    import torch

    args, kwargs = split_batch(batch)
    if kwargs or not args or not isinstance(args[0], torch.Tensor) or args[0].dim() < 2:
        return None
    return tuple(int(d) for d in args[0].shape[1:])


def model_device(model: Any) -> tuple[str, int | None]:
    """``("cuda", index)`` for a model on a GPU, else ``("cpu", None)``."""
    for p in model.parameters():
        if p.device.type == "cuda":
            return "cuda", p.device.index or 0
        break
    return "cpu", None


def device_name(kind: str, index: int | None) -> str:
    """The device's name as the runs file records it (the GPU's name, or the CPU's model name)."""
    if kind == "cuda":
        import torch

        return torch.cuda.get_device_name(index or 0)
    from green_estimate.meters.estimate import cpu_model_name

    return cpu_model_name()


@dataclass
class FitResult:
    """Predicted against measured for one fit (SI units); ``prediction`` is the ``prediction@1`` dict."""

    steps: int
    time_s: float
    energy_j: float
    meter: str
    provenance: str
    prediction: dict | None = None
    runs_file: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def predicted_energy_j(self) -> float | None:
        """The prediction's energy for the steps actually run (a stopped-early fit ran fewer)."""
        return None if self.prediction is None else self.prediction["per_step"]["energy_j"] * self.steps

    @property
    def predicted_time_s(self) -> float | None:
        return None if self.prediction is None else self.prediction["per_step"]["time_s"] * self.steps

    def metrics(self) -> dict[str, float]:
        """Flat numbers for a framework's metrics logger."""
        out = {"green_estimate/measured_time_s": self.time_s, "green_estimate/measured_energy_j": self.energy_j,
               "green_estimate/steps": float(self.steps)}
        if self.prediction is not None:
            out["green_estimate/predicted_time_s"] = float(self.predicted_time_s or 0.0)
            out["green_estimate/predicted_energy_j"] = float(self.predicted_energy_j or 0.0)
        return out


class RunTracker:
    """Predicts a fit at its start, measures it, and records it at its end.

    Args:
        runs_file: where each finished fit is appended (``.csv`` or ``.jsonl``); None records nothing.
        profile: the profile that prices the prediction (a name, path or Profile; None: the default
            profile of the model's device).
        meter: a :class:`~green_estimate.meters.Meter` to measure with; None opens the best meter
            here when the fit starts and closes it at its end.
        model_ref: how ``calibrate --from-runs`` rebuilds the model (``file.py[:name]`` or
            ``package.module[:name]``); None writes the model class's ``module:QualName``.
        model_args: keyword arguments of ``model_ref``'s builder, recorded as the run's variant.
        run_name: the run's id in the runs file; None: the start time (UTC).
        confidence: the prediction interval's confidence.
        source: recorded in the runs file (which callback made the row).
    """

    def __init__(self, *, runs_file: Path | str | None = None, profile: Any = None, meter: Any = None,
                 model_ref: str | None = None, model_args: dict | None = None, run_name: str | None = None,
                 confidence: float = 0.9, source: str = "green-estimate callback",
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.runs_file = Path(runs_file) if runs_file is not None else None
        self.profile = profile
        self.meter = meter
        self.model_ref = model_ref
        self.model_args = dict(model_args or {})
        self.run_name = run_name
        self.confidence = confidence
        self.source = source
        self.prediction: dict | None = None
        self.result: FitResult | None = None
        self._clock = clock
        self._owns_meter = meter is None
        self._start: Any = None
        self._plan: FitPlan | None = None
        self._record: dict[str, Any] = {}

    @property
    def started(self) -> bool:
        """Whether a fit is being measured (between :meth:`start` and :meth:`stop`)."""
        return self._start is not None

    def start(self, model: Any, batch: Any, plan: FitPlan, *, keep: tuple = ()) -> dict | None:
        """Predict the fit of ``plan`` (logged) and start measuring; returns the ``prediction@1`` dict.

        A model the counter cannot count is logged as a warning and the fit is still measured:
        the callback never stops a training run.
        """
        kind, index = model_device(model)
        name = self.model_ref or f"{type(model).__module__}:{type(model).__qualname__}"
        self._plan = plan
        self._record = {"model": name, "input_shape": per_sample_shape(batch),
                        "device": device_name(kind, index)}
        self.prediction = self._predict(model, batch, plan, name, keep, kind)
        if self.meter is None:
            from green_estimate.meters.probe import best_meter

            self.meter = best_meter(gpu_index=index)
            for reason in getattr(self.meter, "passed_over", []):
                log.warning("green-estimate: better meter not used — %s", reason)
        self._start = self.meter.read()
        return self.prediction

    def _predict(self, model: Any, batch: Any, plan: FitPlan, name: str, keep: tuple, kind: str) -> dict | None:
        from green_estimate.predict import count_settings, predict_report
        from green_estimate.profile_store import resolve_profile

        try:
            prof = resolve_profile(self.profile, "cuda" if kind == "cuda" else "cpu", plan.precision)
            report = count_fit_step(model, batch, plan, name=name, keep=keep, target=count_settings(prof)["target"])
            pred = predict_report(report, plan=plan.training_plan(), profile=prof, confidence=self.confidence).to_dict()
        except GreenEstimateError as e:
            log.warning("green-estimate: no prediction for this fit (%s); the fit is still measured", e)
            return None
        total, lo_hi = pred["total"], pred["total"]["energy_j_interval"]
        log.info("green-estimate predicts %d steps of %s: %.4g J (%.4g–%.4g J, %g%%), %.4g s, with profile %s",
                 plan.steps, name, total["energy_j"], lo_hi[0], lo_hi[1], 100 * self.confidence, total["time_s"],
                 pred["profile"]["name"])
        return pred

    def stop(self, steps: int) -> FitResult:
        """Stop measuring after ``steps`` optimizer steps; log predicted against measured; record the run."""
        if self._start is None or self.meter is None or self._plan is None:
            raise UsageError("RunTracker.stop() before start(): the callback saw the end of a fit it did not see begin")
        end = self.meter.read()
        try:
            result = FitResult(steps=int(steps), time_s=end.time_s - self._start.time_s,
                               energy_j=end.energy_j - self._start.energy_j, meter=self.meter.name,
                               provenance=self.meter.provenance, prediction=self.prediction)
        finally:
            if self._owns_meter:
                self.meter.close()
                self.meter = None
            self._start = None
        self._log(result)
        if self.runs_file is not None and result.steps > 0:
            result.runs_file = self._append(result)
        self.result = result
        return result

    def _log(self, r: FitResult) -> None:
        measured = f"{r.energy_j:.4g} J ({r.provenance}, {r.meter}), {r.time_s:.4g} s"
        if r.prediction is None:
            log.info("green-estimate measured %d steps: %s", r.steps, measured)
            return
        log.info("green-estimate: %d steps predicted %.4g J, %.4g s; measured %s (energy %+.0f%%, time %+.0f%%)",
                 r.steps, r.predicted_energy_j, r.predicted_time_s, measured,
                 _pct(r.predicted_energy_j, r.energy_j), _pct(r.predicted_time_s, r.time_s))

    def _append(self, r: FitResult) -> Path:
        from green_estimate.meters.base import MEASURED
        from green_estimate.runs.runsfile import Run, append_run

        assert self._plan is not None and self.runs_file is not None
        # an estimated energy (time × assumed watts) would teach calibration the assumption: time only
        energy = r.energy_j if r.provenance == MEASURED and r.energy_j > 0 else None
        if energy is None:
            r.notes.append(f"energy not recorded: the {r.meter} meter only estimates it")
        run = Run(row=0, run=self.run_name or datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  model=self._record["model"], model_args=self.model_args, input_shape=self._record["input_shape"],
                  batch_size=self._plan.batch_size * self._plan.grad_accum, steps=r.steps, epochs=None,
                  samples=self._plan.samples, optimizer=self._plan.optimizer, device=self._record["device"],
                  energy_j=energy, time_s=r.time_s if r.time_s > 0 else None, meter=r.meter, idle_included=True,
                  source=self.source)
        path = append_run(run, self.runs_file)
        log.info("green-estimate: run recorded in %s", path)
        return path


def _pct(predicted: float | None, measured: float) -> float:
    if predicted is None or measured <= 0:
        return math.nan
    return 100.0 * (predicted - measured) / measured


class TrackedCallback:
    """What both framework callbacks share: the constructor and the results (a mixin before the
    framework's callback class)."""

    source = "green-estimate callback"

    def __init__(self, runs_file: Path | str | None = None, *, model_ref: str | None = None, profile: Any = None,
                 meter: Any = None, model_args: dict | None = None, run_name: str | None = None,
                 confidence: float = 0.9) -> None:
        self.tracker = RunTracker(runs_file=runs_file, profile=profile, meter=meter, model_ref=model_ref,
                                  model_args=model_args, run_name=run_name, confidence=confidence, source=self.source)

    @property
    def prediction(self) -> dict | None:
        """The ``prediction@1`` dict made when training started (None before, or when it could not be made)."""
        return self.tracker.prediction

    @property
    def result(self) -> FitResult | None:
        """Predicted against measured, once training has ended."""
        return self.tracker.result
