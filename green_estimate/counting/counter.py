"""Counting a workload: build its model on the meta device, make its inputs, count one training step.

The step itself is counted by :func:`~green_estimate.counting.step.count_step`. A model that cannot
be built on the meta device is built on the CPU and moved there; one that cannot *run* there is
counted on real CPU tensors (:func:`count_workload`).
"""
from __future__ import annotations

import re
from typing import Any

from green_estimate.counting.inputs import has_lazy, model_inputs, run_forward, to_device
from green_estimate.counting.loss import step_loss
from green_estimate.counting.mode import record_ops
from green_estimate.counting.report import CostReport
from green_estimate.counting.step import OPTIMIZERS, count_step, make_optimizer
from green_estimate.errors import ModelLoadError, UsageError
from green_estimate.loading import Workload, load_workload

# Names other modules import from here (kept as they were before the counter was split).
_inputs, _to_device, _loss = model_inputs, to_device, step_loss
__all__ = ["CPU_FALLBACK_MAX_PARAMS", "OPTIMIZERS", "count_model", "count_step", "count_workload", "has_lazy",
           "make_optimizer", "record_ops"]

# A model that cannot run on the meta device is counted on real CPU tensors only up to this size.
CPU_FALLBACK_MAX_PARAMS = 200_000_000


def _is_meta_limitation(e: BaseException) -> bool:
    text = f"{type(e).__name__}: {e}".lower()
    return isinstance(e, NotImplementedError) or "meta" in text


def count_workload(workload: Workload, *, batch_size: int = 64, optimizer: str = "adam", device: str = "meta",
                   precision: str = "fp32", target: str = "cpu", attention: str = "auto") -> CostReport:
    """Build the workload's model on ``device`` (meta by default) and count one training step.

    A model that cannot be *built* on the meta device is built on the CPU and moved to meta; one that
    cannot *run* on meta (data-dependent Python control flow, an op without a meta kernel) is counted
    on real CPU tensors at batch 1 and 2 and scaled linearly to ``batch_size`` if it has at most
    :data:`CPU_FALLBACK_MAX_PARAMS` parameters, else a :class:`ModelLoadError` explains.
    ``precision``, ``target`` and ``attention`` are :func:`count_step`'s.
    """
    from green_estimate.counting.attention import check_backend
    from green_estimate.counting.precision import check_precision, check_target

    step = {"precision": check_precision(precision), "target": check_target(target),
            "attention": check_backend(attention)}
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if optimizer.lower() not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    notes = list(workload.notes)
    model, buffers = _build(workload, device, notes)
    args, kwargs = model_inputs(workload, batch_size, device, model)
    try:
        report = count_step(model, args, optimizer=optimizer, name=workload.name, batch_size=batch_size, kwargs=kwargs,
                            **step)
    except ModelLoadError as e:
        cause = e.__cause__
        if device != "meta" or cause is None or not _is_meta_limitation(cause):
            raise
        n_params = sum(p.numel() for p in model.parameters())
        if n_params > CPU_FALLBACK_MAX_PARAMS:
            raise ModelLoadError(
                f"{workload.name} cannot run on the meta device ({e}) and with "
                f"{n_params:,} parameters it is too large to count on real CPU tensors; remove data-dependent "
                "Python control flow (.item(), .tolist(), if tensor:) from forward()"
            ) from cause
        report = _count_on_cpu(workload, lambda: _cpu_model(workload, model, buffers), batch_size, optimizer,
                               type(cause).__name__, step)
    report.notes = notes + report.notes
    return report


def _cpu_model(workload: Workload, model: Any, buffers: dict[str, Any]) -> Any:
    """A CPU model with random weights: a prebuilt model re-materialised with its buffers' values
    (position ids, running statistics), any other built afresh."""
    import torch

    if workload.prebuilt:
        model = model.to_empty(device="cpu")
        with torch.no_grad():
            for name, value in buffers.items():
                model.get_buffer(name).copy_(value)
    else:
        model = workload.build()
    with torch.no_grad():
        for p in model.parameters():
            if not torch.nn.parameter.is_lazy(p):
                p.normal_(0, 0.02)
    return model


def _count_on_cpu(workload: Workload, cpu_model: Any, batch_size: int, optimizer: str, why: str,
                  step: dict) -> CostReport:
    """Count on real CPU tensors: at batch 1 and 2, extrapolated linearly per op to ``batch_size``.

    Every op's FLOPs and bytes are ``a + b·batch`` for the layers this covers (weights and
    optimizer state give ``a``, activations ``b``); when the two small counts do not run the same ops
    (control flow that depends on the batch) the step is counted at the full batch instead.
    """
    import dataclasses

    def at(b: int) -> CostReport:
        m = cpu_model()
        args, kwargs = model_inputs(workload, b, "cpu", m)
        return count_step(m, args, optimizer=optimizer, name=workload.name, batch_size=b, kwargs=kwargs, **step)

    reason = f"the model cannot run on the meta device ({why})"
    if batch_size <= 2:
        report = at(batch_size)
        report.notes.append(f"Counted on real CPU tensors: {reason}.")
        return report
    one, two = at(1), at(2)
    aligned = len(one.ops) == len(two.ops) and all(
        (a.op, a.phase, a.module) == (b.op, b.phase, b.module) for a, b in zip(one.ops, two.ops))
    if not aligned:
        report = at(batch_size)
        report.notes.append(f"Counted on real CPU tensors at batch {batch_size}: {reason}.")
        return report
    k = batch_size - 1

    def scale(a: int, b: int) -> int:
        return max(0, a + (b - a) * k)

    two.ops = [dataclasses.replace(a, flops=scale(a.flops, b.flops), bytes_read=scale(a.bytes_read, b.bytes_read),
                                   bytes_written=scale(a.bytes_written, b.bytes_written))
               for a, b in zip(one.ops, two.ops)]
    two.batch_size = batch_size
    two.loss = re.sub(r"\((2)(?=[,)])", f"({batch_size}", two.loss)  # the shapes it names, at the real batch
    two.input_shapes = [(batch_size, *s[1:]) if s else s for s in two.input_shapes]
    two.notes.append(f"Counted on real CPU tensors at batch 1 and 2 and scaled linearly to batch {batch_size}: {reason}.")
    return two


def _build(workload: Workload, device: str, notes: list[str]) -> tuple[Any, dict[str, Any]]:
    """The workload's model on ``device``, and a prebuilt model's buffer values from before it moved
    (moving to meta loses them; the CPU fallback puts them back)."""
    import torch

    if workload.prebuilt:
        model = workload.build()
        if has_lazy(model) and device != "cpu":
            # .to() turns an uninitialised parameter into an empty one: materialise on the CPU first
            args, kwargs = model_inputs(workload, 1, "cpu", model)
            with torch.no_grad():
                run_forward(model, args, kwargs)
        if workload.buffers_from is not None:  # a meta copy: the values are the original's (read, not changed)
            buffers = {n: b.detach() for n, b in workload.buffers_from.named_buffers() if b.device.type != "meta"}
        else:  # .to() below moves this very model: keep copies
            buffers = {n: b.detach().clone() for n, b in model.named_buffers() if b.device.type != "meta"}
        return model.to(device), buffers
    if device != "meta":
        with torch.device(device):
            return workload.build(), {}
    try:
        with torch.device("meta"):
            return workload.build(), {}
    except Exception as e:  # anything meta cannot do; the CPU attempt below reports real errors
        meta_error = e
    try:
        model = workload.build()
    except MemoryError as e:
        raise ModelLoadError(
            f"{workload.name} cannot be built on the meta device ({meta_error}) and is too large to build on "
            "the CPU: make build_model() meta-safe (no .item()/numpy on parameters while building)"
        ) from e
    notes.append(f"built on the CPU, then moved to meta: building on meta failed ({meta_error})")
    return model.to("meta"), {}


def count_model(spec: str, *, batch_size: int = 64, optimizer: str = "adam", input_shape: tuple[int, ...] | None = None,
                model_kwargs: dict | None = None, input_dtype: str | None = None, vocab_size: int | None = None,
                precision: str = "fp32", target: str = "cpu", attention: str = "auto") -> CostReport:
    """Load MODEL (``file.py[:name]`` or ``pkg.module[:name]``) and count one training step on meta."""
    workload = load_workload(spec, input_shape=input_shape, model_kwargs=model_kwargs, input_dtype=input_dtype,
                             vocab_size=vocab_size)
    return count_workload(workload, batch_size=batch_size, optimizer=optimizer, precision=precision, target=target,
                          attention=attention)
