"""Counting one training step under a ``TorchDispatchMode``.

The step is the real thing — forward, loss, backward, ``torch.optim`` update — dispatched on the
meta device, so no weights are allocated and a multi-billion-parameter model is counted in seconds.
The optimizer is stepped once *before* counting, so its state exists and the counted step is a
steady-state step (the one-off state allocation of the first step is not a per-step cost).
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Any

from green_estimate.counting.classes import class_of, is_free, op_name
from green_estimate.counting.formulas import op_flops
from green_estimate.counting.regions import backward_region, fused_regions
from green_estimate.counting.report import CostReport, OpRecord
from green_estimate.counting.shapes import gemm_shape
from green_estimate.counting.tensors import op_bytes, output_tensors
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
            self.region = ""  # set by the region mode while a fused call runs (see counting/regions.py)
            self.region_nodes: dict[int, Any] = {}
            self.attention = "math"  # SDPA backend: math, or auto/flash/efficient (counting/attention.py)
            self.low_dtype: Any = None  # the autocast dtype while the forward runs under autocast
            self.attention_backends: dict[str, int] = {}

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
            mnk, depthwise, cin = gemm_shape(name, args, out)
            region = self.region or (backward_region(self) if self.phase == "backward" else "")
            self.ops.append(OpRecord(
                op=f"aten.{name}", cls=class_of(name), phase=self.phase, module=self._module(),
                flops=flops or 0, bytes_read=read, bytes_written=written, counted=flops is not None,
                outputs=max(1, len(output_tensors(out))), min_dim=min(mnk), gemm_mnk=mnk, depthwise=depthwise,
                conv_cin=cin, fused=region, dtype=_compute_dtype(args, out),
            ))
            return out

    return _CountingMode


def _compute_dtype(args: tuple, out: Any) -> str:
    """The dtype an op computes in: its first floating-point input, else its first output."""
    import torch

    def first(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return obj if obj.is_floating_point() else None
        if isinstance(obj, (list, tuple)):
            for o in obj:
                t = first(o)
                if t is not None:
                    return t
        return None

    t = first(args)
    if t is None:
        t = first(out)
    return str(t.dtype).replace("torch.", "") if t is not None else ""


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


def _inputs(workload: Workload, batch_size: int, device: str, model: Any = None) -> tuple[tuple, dict]:
    """The model's positional and keyword inputs for one batch, on ``device``.

    ``example_input(batch_size)`` may return a tensor, a tuple of tensors, or a dict (passed as
    keywords; non-tensor values such as ``use_cache=False`` pass through unchanged). Without it, one
    input of ``INPUT_SHAPE`` is made, of ``INPUT_DTYPE`` (random ids below the vocabulary size for an
    integer dtype when it must hold real values).
    """
    import torch

    if workload.example_input is not None:
        try:
            x = workload.example_input(batch_size)
        except Exception as e:
            raise ModelLoadError(f"example_input({batch_size}) in {workload.name} raised {type(e).__name__}: {e}") from e
        if isinstance(x, dict):
            if not all(isinstance(k, str) for k in x) or not any(isinstance(v, torch.Tensor) for v in x.values()):
                raise ModelLoadError(f"example_input({batch_size}) in {workload.name} returned a dict without tensors: "
                                     "return {'input_ids': tensor, ...} (keyword name → tensor)")
            return (), {k: _to_device(v, device) for k, v in x.items()}
        xs = x if isinstance(x, (tuple, list)) else (x,)
        if not xs or not all(isinstance(t, torch.Tensor) for t in xs):
            raise ModelLoadError(f"example_input({batch_size}) in {workload.name} must return a tensor, a tuple of "
                                 f"tensors or a dict of tensors; it returned a {type(x).__name__}")
        return tuple(_to_device(t, device) for t in xs), {}
    assert workload.input_shape is not None
    shape = (batch_size, *workload.input_shape)
    dtype = workload.input_dtype or torch.float32
    if device == "meta":
        return (torch.empty(shape, dtype=dtype, device="meta"),), {}
    if dtype.is_floating_point:
        return (torch.randn(shape, dtype=dtype),), {}
    vocab = workload.vocab_size or _embedding_rows(model) or 2
    return (torch.randint(0, vocab, shape, dtype=dtype),), {}


def _to_device(v: Any, device: str) -> Any:
    import torch

    if not isinstance(v, torch.Tensor):
        return v
    return torch.empty_like(v, device="meta") if device == "meta" else v.to(device)


def _embedding_rows(model: Any) -> int | None:
    """The smallest embedding table of ``model``: random token ids below it index every table."""
    import torch

    if model is None:
        return None
    rows = [m.num_embeddings for m in model.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    return min(rows) if rows else None


def _shape_text(args: tuple, kwargs: dict) -> str:
    import torch

    parts = [str(tuple(t.shape)) for t in args if isinstance(t, torch.Tensor)]
    parts += [f"{k}={tuple(v.shape)}" for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
    return ", ".join(parts) or "(no tensors)"


def _first_tensor(out: Any) -> tuple[Any, int, int]:
    """The first tensor of a model output, its index, and how many tensors there were."""
    import torch

    values = list(out.values()) if isinstance(out, dict) else list(out)
    tensors = [(i, v) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    if not tensors:
        return None, 0, 0
    return tensors[0][1], tensors[0][0], len(tensors)


def _loss(out: Any) -> tuple[Any, str]:
    """The step's loss and a sentence saying what it was.

    A loss the model returns (a ``loss`` entry of a dict or ``ModelOutput``, a scalar output, or a
    scalar first element of a tuple, as Hugging Face models return with ``return_dict=False``) is the
    loss. Otherwise: cross-entropy for ``(N, K)`` logits, per-token cross-entropy over the last
    dimension for ``(N, T, V)`` logits (language models), else the mean of the output. Targets are
    class 0: the values do not change the cost.
    """
    import torch

    where = "the output"
    if isinstance(out, dict):  # ModelOutput is an OrderedDict: a dict here
        loss = out.get("loss")
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.is_floating_point():
            return loss, "the loss the model returned (its `loss` output)"
        logits = out.get("logits")
        if isinstance(logits, torch.Tensor):
            out, where = logits, "the `logits` output"
        else:
            key_tensor, index, n = _first_tensor(out)
            key = list(out)[index] if key_tensor is not None else None
            out, where = key_tensor, f"the `{key}` output" + (f" (the first of {n} tensors; the others get no gradient)" if n > 1 else "")
    elif isinstance(out, (tuple, list)):
        first, index, n = _first_tensor(out)
        if first is not None and n > 1 and first.numel() == 1 and first.is_floating_point():
            return first, "the loss the model returned (the scalar first output)"
        out = first
        where = f"output {index} of a {n}-tensor tuple (the others get no gradient; return a loss from forward to train them)" if n > 1 else "the output"
    if not isinstance(out, torch.Tensor):
        raise ModelLoadError("the model's forward returned no tensor: return the logits, a dict or tuple holding them, or the loss")
    if not out.is_floating_point():
        raise ModelLoadError(f"the model's output has dtype {out.dtype}; a training step needs a floating-point output")
    if out.numel() == 1 and where == "the output":
        return out.reshape(()), "the loss the model returned (a scalar output)"
    if out.dim() == 2:
        target = torch.zeros(out.shape[0], dtype=torch.long, device=out.device)
        return torch.nn.functional.cross_entropy(out, target), f"cross-entropy on {where}, logits {tuple(out.shape)}"
    if out.dim() == 3:
        flat = out.reshape(-1, out.shape[-1])
        target = torch.zeros(flat.shape[0], dtype=torch.long, device=out.device)
        return (torch.nn.functional.cross_entropy(flat, target),
                f"per-token cross-entropy on {where}, logits {tuple(out.shape)} (batch, tokens, vocabulary)")
    return out.mean(), (f"the mean of {where}, shape {tuple(out.shape)} (not classifier logits; return the real loss "
                        "from forward to count it)")


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
    from torch.utils.module_tracker import ModuleTracker

    from green_estimate.counting.attention import check_backend
    from green_estimate.counting.precision import (autocast_emulation, check_precision, check_target, low_dtype,
                                                   scaler_scale, scaler_unscale_and_update)

    precision, target, attention = check_precision(precision), check_target(target), check_backend(attention)
    kwargs = dict(kwargs or {})
    tensors = [t for t in (*inputs, *kwargs.values()) if isinstance(t, torch.Tensor)]
    notes: list[str] = []
    model.train()
    device = tensors[0].device.type if tensors else "meta"
    if has_lazy(model):
        # Lazy parameters materialise on the device that is current, so make it the inputs' one
        with torch.no_grad(), torch.device(device):
            _forward(model, inputs, kwargs, None)
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

    mode = _make_mode()(ModuleTracker(), f"{type(model).__name__}.")
    mode.attention = "math" if target == "cpu" else attention
    scaled = precision == "fp16" and opt is not None
    with mode.tracker, fused_regions(mode), mode:
        with autocast_emulation(precision, target):  # forward and loss under autocast, as torch.autocast is used
            mode.low_dtype = low_dtype(precision)
            out = _forward(model, inputs, kwargs, mode)
            loss, loss_text = _loss(out)
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
    if precision in ("bf16", "fp16"):
        notes.append(f"Counted under {precision} autocast as torch.autocast('{target}') runs it: the forward pass and "
                     "loss in mixed precision, float32 weights and optimizer"
                     + (", plus the gradient scaler's scale, unscale/inf-check and update." if scaled else "."))
    n_params = sum(p.numel() for p in model.parameters())
    first = next((t for t in tensors if t.dim() > 0), None)
    return CostReport(
        model=name,
        batch_size=batch_size if batch_size is not None else (int(first.shape[0]) if first is not None else 1),
        optimizer=optimizer,
        parameters=n_params,
        input_shapes=[tuple(t.shape) for t in tensors],
        ops=mode.ops,
        ignored_ops=dict(mode.ignored),
        device=device,
        notes=notes,
        loss=loss_text,
        param_tensors=len(params),
        grad_tensors=[(p.numel(), p.element_size()) for p in params],
        precision=precision,
        target=target,
        attention_backends=dict(mode.attention_backends),
    )


def has_lazy(model: Any) -> bool:
    """Whether ``model`` still has uninitialised (Lazy) parameters or buffers."""
    from torch.nn.parameter import is_lazy

    return any(is_lazy(t) for t in (*model.parameters(), *model.buffers()))


def _forward(model: Any, inputs: tuple, kwargs: dict, mode: Any) -> Any:
    """``model(*inputs, **kwargs)``; a failure becomes one line naming the layer that raised."""
    stack = _ForwardStack(model)
    try:
        return model(*inputs, **kwargs)
    except ModelLoadError:
        raise
    except Exception as e:
        text = str(e).strip()
        raise ModelLoadError(
            f"the model rejected input of shape {_shape_text(inputs, kwargs)}: {stack.failing()} raised "
            f"{type(e).__name__}: {text.splitlines()[0] if text else ''} — check "
            "INPUT_SHAPE / INPUT_DTYPE / example_input / --input-shape"
        ) from e
    finally:
        stack.close()


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
    model = _build(workload, device, notes)
    args, kwargs = _inputs(workload, batch_size, device, model)
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
        report = _count_on_cpu(workload, model, batch_size, optimizer, type(cause).__name__, step)
    report.notes = notes + report.notes
    return report


def _cpu_model(workload: Workload, model: Any) -> Any:
    import torch

    if workload.prebuilt:
        model = model.to_empty(device="cpu")
    else:
        model = workload.build()
    with torch.no_grad():
        for p in model.parameters():
            if not torch.nn.parameter.is_lazy(p):
                p.normal_(0, 0.02)
    return model


def _count_on_cpu(workload: Workload, model: Any, batch_size: int, optimizer: str, why: str,
                  step: dict | None = None) -> CostReport:
    """Count on real CPU tensors: at batch 1 and 2, extrapolated linearly per op to ``batch_size``.

    Every op's FLOPs and bytes are ``a + b·batch`` for the layers this covers (weights and
    optimizer state give ``a``, activations ``b``); when the two small counts do not run the same ops
    (control flow that depends on the batch) the step is counted at the full batch instead.
    """
    import dataclasses

    def at(b: int) -> CostReport:
        m = _cpu_model(workload, model)
        args, kwargs = _inputs(workload, b, "cpu", m)
        return count_step(m, args, optimizer=optimizer, name=workload.name, batch_size=b, kwargs=kwargs, **(step or {}))

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

    ops = [dataclasses.replace(a, flops=scale(a.flops, b.flops), bytes_read=scale(a.bytes_read, b.bytes_read),
                               bytes_written=scale(a.bytes_written, b.bytes_written)) for a, b in zip(one.ops, two.ops)]
    two.ops = ops
    two.batch_size = batch_size
    two.loss = re.sub(r"\((2)(?=[,)])", f"({batch_size}", two.loss)  # the shapes it names, at the real batch
    two.input_shapes = [(batch_size, *s[1:]) if s else s for s in two.input_shapes]
    two.notes.append(f"Counted on real CPU tensors at batch 1 and 2 and scaled linearly to batch {batch_size}: {reason}.")
    return two


def _build(workload: Workload, device: str, notes: list[str]) -> Any:
    import torch

    if workload.prebuilt:
        model = workload.build()
        if has_lazy(model) and device != "cpu":
            # .to() turns an uninitialised parameter into an empty one: materialise on the CPU first
            import torch

            args, kwargs = _inputs(workload, 1, "cpu", model)
            with torch.no_grad():
                _forward(model, args, kwargs, None)
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
    input_dtype: str | None = None,
    vocab_size: int | None = None,
    precision: str = "fp32",
    target: str = "cpu",
    attention: str = "auto",
) -> CostReport:
    """Load MODEL (``file.py[:name]`` or ``pkg.module[:name]``) and count one training step on meta."""
    workload = load_workload(spec, input_shape=input_shape, model_kwargs=model_kwargs, input_dtype=input_dtype,
                             vocab_size=vocab_size)
    return count_workload(workload, batch_size=batch_size, optimizer=optimizer, precision=precision, target=target,
                          attention=attention)
