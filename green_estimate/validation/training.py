"""Train one model under an energy meter, exactly the step the predictor prices, and test it.

The measured window holds the training steps and nothing else: the data are on the device, the
batch order for every epoch is drawn, and a warm-up step has run (on a throw-away copy of the model,
so the trial's weights are untouched) *before* the first meter reading; evaluation runs *after* the
last. Each step is the predicted one: ``zero_grad(set_to_none=True)``, forward, cross-entropy,
backward, ``Adam.step()``, at exactly ``batch_size`` samples — an epoch is ``ceil(n / batch_size)``
steps and its last batch is filled up with samples drawn from a fresh permutation, so no step is
smaller than the one priced. On a CPU, glibc's malloc is settled first
(:func:`green_estimate.allocator.settle`): the state calibration measured in. The per-step gather of
a batch (``x[idx]``) is inside the window, as it is in any training loop; it is a copy of one batch,
small beside the step.

Timeline of one trial::

    [build model] [predict] [move data, draw batch order, warm-up copy] |meter| steps ... |meter|
        [on a CPU: the last steps timed again on a copy, with and without denormals flushed] [evaluate]
"""
from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from green_estimate.meters.base import Meter, measure


@dataclass(frozen=True)
class AdamParams:
    """The study's optimiser knobs."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def make(self, params) -> torch.optim.Adam:
        return torch.optim.Adam(
            params, lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps, weight_decay=self.weight_decay
        )


@dataclass(frozen=True)
class TrainResult:
    """What one measured training run produced.

    Attributes:
        energy_j: meter energy over the training steps (the meter's total, not idle-subtracted).
        time_s: wall time of the training steps.
        steps: optimizer steps taken (``epochs * ceil(n_train / batch_size)``).
        samples: samples processed (``steps * batch_size``).
        final_loss: the last step's training loss (NaN or inf when training diverged).
        subnormal_values: after the last step, how many values of the gradients and the optimizer's
            state are subnormal floats (:func:`subnormal_count`): a run whose softmax saturated computes
            on such values, which Intel CPUs do far more slowly than on normal ones (docs/predict.md).
        denormal_slowdown: on a CPU, how much slower the trained state's steps ran as PyTorch runs them
            than with subnormal floats flushed to zero (:func:`denormal_slowdown`, after the window);
            ``None`` on a GPU, where the check was not made, or where the CPU cannot flush them.
    """

    energy_j: float
    time_s: float
    steps: int
    samples: int
    final_loss: float
    subnormal_values: int = 0
    denormal_slowdown: float | None = None


def subnormal_count(tensors) -> int:
    """How many values of the floating-point ``tensors`` are subnormal: nonzero and smaller in magnitude
    than their dtype's smallest normal number (``torch.finfo(dtype).tiny``); other tensors count 0."""
    n = 0
    for t in tensors:
        if torch.is_tensor(t) and t.is_floating_point():
            n += int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())
    return n


DENORMAL_ROUNDS = 3  # timings each way, alternating; the median ratio is the slowdown
DENORMAL_STEPS = 3   # steps per timing


def denormal_slowdown(step: Callable[[int], Any], *, rounds: int = DENORMAL_ROUNDS, steps: int = DENORMAL_STEPS,
                      set_flush: Callable[[bool], bool] | None = None,
                      clock: Callable[[], float] = time.perf_counter) -> float | None:
    """How many times longer ``steps`` training steps take as PyTorch runs them than with subnormal
    floats flushed to zero (``torch.set_flush_denormal``): the median over ``rounds`` alternating
    timings of the ratio. ``step(i)`` runs the i-th step (0 .. ``steps``-1) of one timing, on state
    the caller may change (a copy of the trained model). Flushing is off again afterwards, as PyTorch
    starts. ``None`` where the CPU cannot flush them.

    An Intel CPU computes on subnormal floats many times more slowly than on normal ones: a 3-layer
    DensePolyNN trained at lr 0.1 on a 2-vCPU Xeon took 1.64 and 1.81 ms a step against 1.30 and
    1.33 ms with them flushed, while none of its gradients or Adam's moments was subnormal after the
    last step (docs/validation.md). The ratio finds what the count does not.
    """
    set_flush = set_flush or torch.set_flush_denormal
    ratios = []
    try:
        for _ in range(rounds):
            took = {}
            for flush in (False, True):
                if not set_flush(flush):
                    return None
                t0 = clock()
                for i in range(steps):
                    step(i)
                took[flush] = clock() - t0
            ratios.append(took[False] / took[True] if took[True] > 0 else float("nan"))
    finally:
        set_flush(False)
    ratios = [r for r in ratios if math.isfinite(r)]
    return statistics.median(ratios) if ratios else None


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """``ceil(n_train / batch_size)``: every sample is seen once per epoch."""
    if n_train < 1 or batch_size < 1:
        raise ValueError(f"need n_train >= 1 and batch_size >= 1, got {n_train} and {batch_size}")
    return math.ceil(n_train / batch_size)


def batch_order(n_train: int, batch_size: int, epochs: int, generator: torch.Generator) -> torch.Tensor:
    """Sample indices for every step, shape ``(epochs * steps_per_epoch, batch_size)``.

    Each epoch starts with a full permutation of the training set; its last batch is topped up from
    further permutations, so every step has exactly ``batch_size`` samples.
    """
    per_epoch = steps_per_epoch(n_train, batch_size)
    need = per_epoch * batch_size
    epochs_idx = []
    for _ in range(epochs):
        perms = [torch.randperm(n_train, generator=generator) for _ in range(math.ceil(need / n_train))]
        epochs_idx.append(torch.cat(perms)[:need])
    return torch.cat(epochs_idx).view(epochs * per_epoch, batch_size)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """One priced training step: zero grads, forward, cross-entropy, backward, optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    optimizer.step()
    return loss


def train_measured(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    adam: AdamParams,
    epochs: int,
    batch_size: int,
    meter: Meter,
    device: str = "cpu",
    seed: int = 0,
    warmup_steps: int = 1,
    check_denormals: bool = True,
) -> TrainResult:
    """Train ``model`` in place for ``epochs`` and measure the training steps with ``meter``.

    Args:
        model: the model, already on ``device``.
        x_train: training inputs (moved to ``device`` before the window opens).
        y_train: integer labels.
        adam: optimiser settings.
        epochs: passes over the training set.
        batch_size: samples per step (every step has exactly this many).
        meter: the energy meter read at the start and the end of the window.
        device: ``"cpu"`` or ``"cuda:N"``.
        seed: seeds the batch order.
        warmup_steps: steps run on a deep copy of the model before the window (0 for none), so
            one-time costs (allocator, kernel selection, thread pools) are not billed to the run.
            The copy needs memory for a second model and optimizer state while it runs.
        check_denormals: on a CPU, after the window, time the last steps again with and without
            subnormal floats flushed (:func:`denormal_slowdown`, on a copy: 18 steps).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    x = x_train.to(device)
    y = y_train.to(device)
    generator = torch.Generator().manual_seed(seed)
    order = batch_order(len(y), batch_size, epochs, generator).to(device)
    model.train()
    from green_estimate.allocator import settle

    settle(device)  # on a CPU, the allocator state calibration measured in (green_estimate/allocator.py)
    if warmup_steps > 0:
        _warm_up(model, adam, x, y, order, warmup_steps)
    optimizer = adam.make(model.parameters())
    loss = torch.zeros(())
    _sync(device)
    with measure(meter) as window:
        for idx in order:
            loss = train_step(model, optimizer, x[idx], y[idx])
        _sync(device)
    # after the window: the last step's gradients and Adam's moments, read, not changed
    state = [v for per_param in optimizer.state.values() for v in per_param.values()]
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    slowdown = None
    if check_denormals and device == "cpu":
        # the trained state's last batches, on a copy of the model and its optimizer (deep-copied
        # together, the copy's optimizer steps the copy's parameters): the model evaluated is the one measured
        twin, twin_opt = copy.deepcopy((model, optimizer))
        last = order[-DENORMAL_STEPS:]
        slowdown = denormal_slowdown(lambda i: train_step(twin, twin_opt, x[last[i % len(last)]], y[last[i % len(last)]]))
        del twin, twin_opt
    return TrainResult(
        energy_j=float(window.energy_j),
        time_s=float(window.time_s),
        steps=int(order.shape[0]),
        samples=int(order.numel()),
        final_loss=float(loss.detach()),
        subnormal_values=subnormal_count(state + grads),
        denormal_slowdown=slowdown,
    )


def evaluate(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, *, device: str = "cpu", batch_size: int = 1024) -> float:
    """Share of correctly classified test samples (0..1), in eval mode without gradients."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y_test), batch_size):
            xb = x_test[start : start + batch_size].to(device)
            yb = y_test[start : start + batch_size].to(device)
            correct += int((model(xb).argmax(dim=1) == yb).sum())
    return correct / len(y_test) if len(y_test) else 0.0


def _warm_up(model: nn.Module, adam: AdamParams, x, y, order: torch.Tensor, steps: int) -> None:
    shadow = copy.deepcopy(model)
    optimizer = adam.make(shadow.parameters())
    for i in range(steps):
        idx = order[i % len(order)]
        train_step(shadow, optimizer, x[idx], y[idx])
    del shadow, optimizer


def _sync(device: str) -> None:
    # CUDA kernels run asynchronously: without a sync the meter would close before the work ends.
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
