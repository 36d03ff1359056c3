"""The loss of a counted training step: the one the model returns, or one made from its output."""
from __future__ import annotations

from typing import Any

from green_estimate.errors import ModelLoadError


def _first_tensor(out: Any) -> tuple[Any, int, int]:
    """The first tensor of a model output, its index, and how many tensors there were."""
    import torch

    values = list(out.values()) if isinstance(out, dict) else list(out)
    tensors = [(i, v) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]
    if not tensors:
        return None, 0, 0
    return tensors[0][1], tensors[0][0], len(tensors)


def step_loss(out: Any) -> tuple[Any, str]:
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
