"""A model's inputs for one batch, and running its forward pass with errors that name the layer."""
from __future__ import annotations

import math
from typing import Any

from green_estimate.counting.shadow import MAX_ELEMENTS, remember
from green_estimate.errors import ModelLoadError
from green_estimate.loading import Workload


def model_inputs(workload: Workload, batch_size: int, device: str, model: Any = None) -> tuple[tuple, dict]:
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
            return (), {k: to_device(v, device) for k, v in x.items()}
        xs = x if isinstance(x, (tuple, list)) else (x,)
        if not xs or not all(isinstance(t, torch.Tensor) for t in xs):
            raise ModelLoadError(f"example_input({batch_size}) in {workload.name} must return a tensor, a tuple of "
                                 f"tensors or a dict of tensors; it returned a {type(x).__name__}")
        return tuple(to_device(t, device) for t in xs), {}
    assert workload.input_shape is not None
    shape = (batch_size, *workload.input_shape)
    dtype = workload.input_dtype or torch.float32
    if dtype.is_floating_point:
        return (torch.empty(shape, dtype=dtype, device="meta") if device == "meta" else torch.randn(shape, dtype=dtype),), {}
    if device == "meta" and math.prod(shape) > MAX_ELEMENTS:  # too many to keep values of (counting/shadow.py)
        return (torch.empty(shape, dtype=dtype, device="meta"),), {}
    vocab = workload.vocab_size or _embedding_rows(model) or 2
    # ids with values on meta too (kept beside the meta tensor): a model may compute its lengths from them
    return (to_device(torch.randint(0, vocab, shape, dtype=dtype), device),), {}


def to_device(v: Any, device: str) -> Any:
    import torch

    if not isinstance(v, torch.Tensor):
        return v
    if device != "meta":
        return v.to(device)
    meta = torch.empty_like(v, device="meta")
    remember(meta, v)  # a small integer input keeps its values: lengths computed from it can come back to the CPU
    return meta


def _embedding_rows(model: Any) -> int | None:
    """The smallest embedding table of ``model``: random token ids below it index every table."""
    import torch

    if model is None:
        return None
    rows = [m.num_embeddings for m in model.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    return min(rows) if rows else None


def shape_text(args: tuple, kwargs: dict) -> str:
    import torch

    parts = [str(tuple(t.shape)) for t in args if isinstance(t, torch.Tensor)]
    parts += [f"{k}={tuple(v.shape)}" for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
    return ", ".join(parts) or "(no tensors)"


class ForwardStack:
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


def has_lazy(model: Any) -> bool:
    """Whether ``model`` still has uninitialised (Lazy) parameters or buffers."""
    from torch.nn.parameter import is_lazy

    return any(is_lazy(t) for t in (*model.parameters(), *model.buffers()))


def run_forward(model: Any, inputs: tuple, kwargs: dict) -> Any:
    """``model(*inputs, **kwargs)``; a failure becomes one line naming the layer that raised."""
    stack = ForwardStack(model)
    try:
        return model(*inputs, **kwargs)
    except ModelLoadError:
        raise
    except Exception as e:
        text = str(e).strip()
        raise ModelLoadError(
            f"the model rejected input of shape {shape_text(inputs, kwargs)}: {stack.failing()} raised "
            f"{type(e).__name__}: {text.splitlines()[0] if text else ''} — check "
            "INPUT_SHAPE / INPUT_DTYPE / example_input / --input-shape"
        ) from e
    finally:
        stack.close()
