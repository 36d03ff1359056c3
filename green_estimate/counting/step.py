"""Counting one training step under the counting mode: forward, loss, backward, optimizer update.

The step is the real thing, dispatched on whatever device the inputs live on (normally ``meta``, so
no weights are allocated). The optimizer is stepped once *before* counting, so its state exists and
the counted step is a steady-state step (the one-off state allocation of the first step is not a
per-step cost).
"""
from __future__ import annotations

from typing import Any

from green_estimate.counting.inputs import has_lazy, run_forward
from green_estimate.counting.loss import step_loss
from green_estimate.counting.mode import EnteredModules, make_mode
from green_estimate.counting.regions import device_dropout, fused_regions
from green_estimate.counting.report import CostReport
from green_estimate.errors import UsageError

OPTIMIZERS = ("adam", "adamw", "sgd", "none")


def make_optimizer(name: str, params: list, foreach: bool | None = None) -> Any:
    """The real ``torch.optim`` optimizer for ``--optimizer`` (``none`` → ``None``).

    ``sgd`` is SGD with momentum 0.9 (the usual CNN recipe); learning rates do not change the cost.
    ``foreach``: the multi-tensor implementation, which torch.optim picks by default for CUDA
    tensors (one ``_foreach_*`` kernel per update for all parameters) but not for meta or CPU ones;
    ``None`` leaves torch's default.
    """
    import torch

    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3, foreach=foreach)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-2, momentum=0.9, foreach=foreach)
    if name == "none":
        return None
    raise UsageError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def count_step(
    model: Any,
    inputs: tuple,
    *,
    optimizer: str = "adam",
    name: str = "model",
    batch_size: int | None = None,
    kwargs: dict | None = None,
    precision: str = "fp32",
    target: str = "cpu",
    attention: str = "auto",
) -> CostReport:
    """Count one training step of ``model`` on ``inputs`` (on whatever device they live on).

    Lazy modules (``LazyLinear``...) are materialised first by an uncounted forward. A model with no
    trainable parameters is counted without an optimizer step (and without a backward pass when
    nothing needs a gradient); the report's notes say so.

    Args:
        model: a ``torch.nn.Module`` on the same device as ``inputs`` (normally ``meta``).
        inputs: the positional inputs of ``model(*inputs, **kwargs)``.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``none``.
        name: reported model name.
        batch_size: reported batch size (defaults to the first input's first dimension).
        kwargs: keyword inputs (``example_input`` returning a dict).
        precision: ``fp32``, ``tf32``, ``bf16`` or ``fp16``; the half ones run the forward pass and loss
            under emulated autocast, and ``fp16`` adds the gradient scaler's ops
            (:mod:`green_estimate.counting.precision`).
        target: the kind of device the step is counted for, ``cpu`` or ``cuda``: autocast's op lists,
            and the attention kernel (a CPU target counts attention's math decomposition, which
            calibration's in-context attention scale was fitted on).
        attention: the SDPA backend for a ``cuda`` target: ``auto`` (as PyTorch's CUDA dispatcher
            picks), ``flash``, ``efficient`` or ``math`` (:mod:`green_estimate.counting.attention`).

    Raises:
        ModelLoadError: the model rejects the input, or returns no usable output.
    """
    import torch

    from green_estimate.counting.attention import check_backend
    from green_estimate.counting.dynamo_free import dynamo_free
    from green_estimate.counting.precision import check_precision, check_target

    precision, target, attention = check_precision(precision), check_target(target), check_backend(attention)
    kwargs = dict(kwargs or {})
    tensors = [t for t in (*inputs, *kwargs.values()) if isinstance(t, torch.Tensor)]
    notes: list[str] = []
    with dynamo_free():  # torch.optim's compile guards would import torch._dynamo (about 1 s)
        params, opt, optimizer = _prepare(model, inputs, kwargs, tensors, optimizer, target, notes)
        scaled = precision == "fp16" and opt is not None
        mode, loss_text = _run(model, inputs, kwargs, opt, params, precision, target, attention, scaled)
    notes += _precision_notes(precision, target, scaled)
    first = next((t for t in tensors if t.dim() > 0), None)
    return CostReport(
        model=name,
        batch_size=batch_size if batch_size is not None else (int(first.shape[0]) if first is not None else 1),
        optimizer=optimizer, parameters=sum(p.numel() for p in model.parameters()),
        input_shapes=[tuple(t.shape) for t in tensors], ops=mode.ops, ignored_ops=dict(mode.ignored),
        device=tensors[0].device.type if tensors else "meta", notes=notes, loss=loss_text, param_tensors=len(params),
        grad_tensors=[(p.numel(), p.element_size()) for p in params], precision=precision, target=target,
        attention_backends=dict(mode.attention_backends), lookup_tables=_lookup_tables(model, opt),
    )


def _lookup_tables(model: Any, opt: Any) -> list[tuple[str, int, int]]:
    """``(module path, rows, weight elements)`` of each ``Embedding``/``EmbeddingBag`` whose weight the
    optimizer updates with a dense gradient that only lookups write to: not a ``sparse=True`` table (its
    update touches only the rows looked up), nor one whose weight another module shares (a language
    model's output layer tied to its input embedding writes every row's gradient)."""
    import torch

    from collections import Counter

    if opt is None:
        return []
    holders = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    return [(name, int(m.weight.shape[0]), int(m.weight.numel())) for name, m in model.named_modules()
            if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)) and m.weight.requires_grad and not m.sparse
            and holders[id(m.weight)] == 1]


def _prepare(model: Any, inputs: tuple, kwargs: dict, tensors: list, optimizer: str, target: str,
             notes: list[str]) -> tuple[list, Any, str]:
    """Materialise lazy modules; the trainable parameters, the optimizer (stepped once so its state
    exists) and its name (``none`` when there is nothing to train)."""
    import torch

    model.train()
    if has_lazy(model):
        # Lazy parameters materialise on the device that is current, so make it the inputs' one
        with torch.no_grad(), torch.device(tensors[0].device.type if tensors else "meta"):
            run_forward(model, inputs, kwargs)
        notes.append("Lazy modules were materialised by one uncounted forward pass before counting.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params and optimizer != "none":
        notes.append("The model has no trainable parameters: counted without an optimizer step"
                     + ("" if any(t.requires_grad for t in tensors) else " and without a backward pass") + ".")
        optimizer = "none"
    opt = make_optimizer(optimizer, params, foreach=True if target == "cuda" else None)  # as on a CUDA device
    if opt is not None:
        for p in params:  # one uncounted step creates the optimizer state (exp_avg, momentum, ...)
            p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return params, opt, optimizer


def _precision_notes(precision: str, target: str, scaled: bool) -> list[str]:
    if precision not in ("bf16", "fp16"):
        return []
    return [f"Counted under {precision} autocast as torch.autocast('{target}') runs it: the forward pass and "
            "loss in mixed precision, float32 weights and optimizer"
            + (", plus the gradient scaler's scale, unscale/inf-check and update." if scaled else ".")]


def _run(model: Any, inputs: tuple, kwargs: dict, opt: Any, params: list, precision: str, target: str,
         attention: str, scaled: bool) -> tuple[Any, str]:
    """The counted step: the counting mode that recorded it, and a sentence saying what the loss was."""
    from torch.utils.module_tracker import ModuleTracker

    from green_estimate.counting.cpu_recurrence import cpu_recurrence
    from green_estimate.counting.precision import (autocast_emulation, low_dtype, scaler_scale,
                                                   scaler_unscale_and_update)

    tracker = ModuleTracker()
    tracker.parents = EnteredModules()  # the module entered last among equals, not a set's hash order
    mode = make_mode()(tracker, f"{type(model).__name__}.")
    mode.attention = "math" if target == "cpu" else attention
    mode.target = target
    # GRUs and plain RNNs as the target runs them; then marked as fused regions (they wrap what is in place)
    with mode.tracker, cpu_recurrence(target), fused_regions(mode, target), device_dropout(target), mode:
        with autocast_emulation(precision, target):  # forward and loss under autocast, as torch.autocast is used
            mode.low_dtype = low_dtype(precision)
            loss, loss_text = step_loss(run_forward(model, inputs, kwargs))
            mode.low_dtype = None
        if scaled:
            loss = scaler_scale(loss)
        mode.phase = "backward"
        if loss.requires_grad:
            loss.backward()
        mode.phase = "optimizer"
        if opt is not None:
            if scaled:
                scaler_unscale_and_update(params)
            opt.step()
            opt.zero_grad(set_to_none=True)
    return mode, loss_text
