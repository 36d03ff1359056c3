"""Counting one training step under a ``TorchDispatchMode``.

The step is the real thing — forward, loss, backward, ``torch.optim`` update — dispatched on the
meta device, so no weights are allocated and a multi-billion-parameter model is counted in seconds.
The optimizer is stepped once *before* counting, so its state exists and the counted step is a
steady-state step (the one-off state allocation of the first step is not a per-step cost).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from green_estimate.counting.classes import class_of, is_free, op_name
from green_estimate.counting.formulas import op_bytes, op_flops, output_tensors
from green_estimate.counting.report import CostReport, OpRecord
from green_estimate.errors import ModelLoadError, UsageError
from green_estimate.loading import Workload, load_workload

OPTIMIZERS = ("adam", "adamw", "sgd", "none")
# A model that cannot run on the meta device is counted on real CPU tensors only up to this size.
CPU_FALLBACK_MAX_PARAMS = 200_000_000


def _make_mode():  # the class needs torch, which this module imports lazily
    from torch.utils._python_dispatch import TorchDispatchMode

    class _CountingMode(TorchDispatchMode):
        def __init__(self, tracker: Any, root_prefix: str) -> None:
            super().__init__()
            self.tracker = tracker
            self.root_prefix = root_prefix
            self.phase = "forward"
            self.ops: list[OpRecord] = []
            self.ignored: Counter[str] = Counter()

        def _module(self) -> str:
            parents = [p for p in self.tracker.parents if p != "Global"]
            if not parents:
                return ""
            leaf = max(parents, key=lambda p: p.count("."))
            return leaf[len(self.root_prefix):] if leaf.startswith(self.root_prefix) else leaf

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = op_name(func)
            if is_free(name):
                self.ignored[f"aten.{name}"] += 1
                return out
            flops = op_flops(name, func, args, kwargs, out)
            read, written = op_bytes(name, args, kwargs, out)
            self.ops.append(OpRecord(
                op=f"aten.{name}", cls=class_of(name), phase=self.phase, module=self._module(),
                flops=flops or 0, bytes_read=read, bytes_written=written, counted=flops is not None,
                outputs=max(1, len(output_tensors(out))),
            ))
            return out

    return _CountingMode


class _NoModules:
    parents = {"Global"}


def record_ops(fn: Any) -> tuple[list[OpRecord], dict[str, int]]:
    """Run ``fn()`` under the counter and return its op records and ignored (free) ops.

    Calibration uses this on each microbenchmark, so its features come from the same counter.
    """
    mode = _make_mode()(_NoModules(), "")
    with mode:
        fn()
    return mode.ops, dict(mode.ignored)


def make_optimizer(name: str, params: list) -> Any:
    """The real ``torch.optim`` optimizer for ``--optimizer`` (``none`` → ``None``).

    ``sgd`` is SGD with momentum 0.9 (the usual CNN recipe); learning rates do not change the cost.
    """
    import torch

    name = name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-3)
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-2, momentum=0.9)
    if name == "none":
        return None
    raise UsageError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def _inputs(workload: Workload, batch_size: int, device: str) -> tuple:
    import torch

    if workload.example_input is not None:
        try:
            x = workload.example_input(batch_size)
        except Exception as e:
            raise ModelLoadError(f"example_input({batch_size}) in {workload.name} raised {type(e).__name__}: {e}") from e
        xs = x if isinstance(x, (tuple, list)) else (x,)
        if not xs or not all(isinstance(t, torch.Tensor) for t in xs):
            raise ModelLoadError(f"example_input({batch_size}) in {workload.name} must return a tensor or a tuple of tensors")
        if device == "meta":
            return tuple(torch.empty_like(t, device="meta") for t in xs)
        return tuple(t.to(device) for t in xs)
    assert workload.input_shape is not None
    shape = (batch_size, *workload.input_shape)
    if device == "meta":
        return (torch.empty(shape, device="meta"),)
    return (torch.randn(shape),)


def _loss(out: Any) -> Any:
    """Cross-entropy for ``(N, K)`` outputs (targets of class 0), else the mean."""
    import torch

    if isinstance(out, dict):
        out = next((v for v in out.values() if isinstance(v, torch.Tensor)), None)
    elif isinstance(out, (tuple, list)):
        out = next((v for v in out if isinstance(v, torch.Tensor)), None)
    if not isinstance(out, torch.Tensor):
        raise ModelLoadError("the model's forward returned no tensor: return the logits (or a tuple starting with them)")
    if not out.is_floating_point():
        raise ModelLoadError(f"the model's output has dtype {out.dtype}; a training step needs a floating-point output")
    if out.dim() == 2:
        target = torch.zeros(out.shape[0], dtype=torch.long, device=out.device)
        return torch.nn.functional.cross_entropy(out, target)
    return out.mean()


class _ForwardStack:
    """Which module is running in the forward pass, so a shape error can name the layer."""

    def __init__(self, model: Any) -> None:
        import torch

        self.names = {m: n for n, m in model.named_modules()}
        self.stack: list[Any] = []
        self._handles = [
            torch.nn.modules.module.register_module_forward_pre_hook(self._enter),
            torch.nn.modules.module.register_module_forward_hook(self._exit),
        ]

    def _enter(self, module: Any, args: Any) -> None:
        self.stack.append(module)

    def _exit(self, module: Any, args: Any, output: Any) -> None:  # must return None: keeps the output
        if self.stack:
            self.stack.pop()

    def failing(self) -> str:
        for m in reversed(self.stack):
            if m in self.names:
                n = self.names[m]
                return f"layer `{n or '(root)'}` ({type(m).__name__})"
        return "the model"

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def count_step(
    model: Any,
    inputs: tuple,
    *,
    optimizer: str = "adam",
    name: str = "model",
    batch_size: int | None = None,
) -> CostReport:
    """Count one training step of ``model`` on ``inputs`` (on whatever device they live on).

    Args:
        model: a ``torch.nn.Module`` on the same device as ``inputs`` (normally ``meta``).
        inputs: the positional inputs of ``model(*inputs)``.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``none``.
        name: reported model name.
        batch_size: reported batch size (defaults to the first input's first dimension).

    Raises:
        ModelLoadError: the model rejects the input, or returns no usable output.
    """
    import torch
    from torch.utils.module_tracker import ModuleTracker

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params)
    if opt is not None and params:
        for p in params:  # one uncounted step creates the optimizer state (exp_avg, momentum, ...)
            p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)

    mode = _make_mode()(ModuleTracker(), f"{type(model).__name__}.")
    stack = _ForwardStack(model)
    device = inputs[0].device.type if inputs else "meta"
    try:
        with mode.tracker, mode:
            try:
                out = model(*inputs)
            except ModelLoadError:
                raise
            except Exception as e:
                shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
                raise ModelLoadError(
                    f"the model rejected input of shape {shapes}: {stack.failing()} raised "
                    f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''} — check "
                    "INPUT_SHAPE / example_input / --input-shape"
                ) from e
            loss = _loss(out)
            mode.phase = "backward"
            if loss.requires_grad:
                loss.backward()
            mode.phase = "optimizer"
            if opt is not None:
                opt.step()
                opt.zero_grad(set_to_none=True)
    finally:
        stack.close()
    n_params = sum(p.numel() for p in model.parameters())
    return CostReport(
        model=name,
        batch_size=batch_size if batch_size is not None else int(inputs[0].shape[0]),
        optimizer=optimizer,
        parameters=n_params,
        input_shapes=[tuple(t.shape) for t in inputs],
        ops=mode.ops,
        ignored_ops=dict(mode.ignored),
        device=device,
    )


def _is_meta_limitation(e: BaseException) -> bool:
    text = f"{type(e).__name__}: {e}".lower()
    return isinstance(e, NotImplementedError) or "meta" in text


def count_workload(workload: Workload, *, batch_size: int = 64, optimizer: str = "adam", device: str = "meta") -> CostReport:
    """Build the workload's model on ``device`` (meta by default) and count one training step.

    A model that cannot be *built* on the meta device is built on the CPU and moved to meta; one that
    cannot *run* on meta (data-dependent Python control flow) is counted on real CPU tensors if it
    has at most :data:`CPU_FALLBACK_MAX_PARAMS` parameters, else a :class:`ModelLoadError` explains.
    """
    import torch

    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if optimizer.lower() not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    notes = list(workload.notes)
    model = _build(workload, device, notes)
    inputs = _inputs(workload, batch_size, device)
    try:
        report = count_step(model, inputs, optimizer=optimizer, name=workload.name, batch_size=batch_size)
    except ModelLoadError as e:
        cause = e.__cause__
        if device != "meta" or cause is None or not _is_meta_limitation(cause):
            raise
        n_params = sum(p.numel() for p in model.parameters())
        if n_params > CPU_FALLBACK_MAX_PARAMS:
            raise ModelLoadError(
                f"{workload.name} cannot run on the meta device ({type(cause).__name__}: {cause}) and with "
                f"{n_params:,} parameters it is too large to count on real CPU tensors; remove data-dependent "
                "Python control flow (.item(), .tolist(), if tensor:) from forward()"
            ) from cause
        notes.append(f"counted on real CPU tensors: the model cannot run on the meta device ({type(cause).__name__})")
        model = workload.build() if not workload.prebuilt else model.to_empty(device="cpu")
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.02)
        report = count_step(model, _inputs(workload, batch_size, "cpu"), optimizer=optimizer,
                            name=workload.name, batch_size=batch_size)
    report.notes = notes
    return report


def _build(workload: Workload, device: str, notes: list[str]) -> Any:
    import torch

    if workload.prebuilt:
        model = workload.build()
        return model.to(device)
    if device != "meta":
        with torch.device(device):
            return workload.build()
    try:
        with torch.device("meta"):
            return workload.build()
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
    return model.to("meta")


def count_model(
    spec: str,
    *,
    batch_size: int = 64,
    optimizer: str = "adam",
    input_shape: tuple[int, ...] | None = None,
    model_kwargs: dict | None = None,
) -> CostReport:
    """Load MODEL (``file.py[:name]`` or ``pkg.module[:name]``) and count one training step on meta."""
    workload = load_workload(spec, input_shape=input_shape, model_kwargs=model_kwargs)
    return count_workload(workload, batch_size=batch_size, optimizer=optimizer)
