"""Counting an optimizer step without importing ``torch._dynamo`` (most of a second of ``predict``).

``torch.optim`` guards its steps for ``torch.compile``: ``torch._disable_dynamo`` (``Optimizer.__init__``'s
``add_param_group``, ``zero_grad``, the functional ``adam``...) imports ``torch._dynamo`` on its first
call, and ``_use_grad_for_differentiable`` (every ``step``) imports it on each call to call
``graph_break()``. Outside a compiled frame both only call the function they wrap. Counting runs
eagerly on the meta device, yet the import alone took 0.93 s of a 3.2 s ``green-estimate predict``
on a 2-vCPU AMD EPYC (torch 2.13.0+cpu, ``python -X importtime``; docs/performance.md).

:func:`dynamo_free` puts a stand-in module under ``torch._dynamo`` while a step is counted, when
nothing has imported the real one yet: its ``graph_break`` does nothing and its ``disable`` returns
the function itself — what the real ones amount to outside ``torch.compile``. Anything else asked of
it imports the real module and answers from that, so code that needs dynamo still gets it. On exit
the stand-in goes, and so does every cached ``__dynamo_disable`` it handed out (torch caches the
result on the wrapped function), so a ``torch.compile`` later in the same process gets the real
guards. Not thread-safe: count in one thread at a time (counting already is).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Any, Callable, Iterator

NAME = "torch._dynamo"


class _StandIn(types.ModuleType):
    """``torch._dynamo`` while counting: ``graph_break`` and ``disable`` as they act eagerly."""

    def __init__(self) -> None:
        super().__init__(NAME, "green-estimate's stand-in for torch._dynamo while a step is counted")
        self.handed_out: list[Callable] = []

    def graph_break(self) -> None:
        """Nothing to break outside a compiled frame."""

    def disable(self, fn: Callable | None = None, recursive: bool = True, *, wrapping: bool = True,
                **_: Any) -> Any:
        """``fn`` itself (a decorator returning it, without ``fn``), noted so its cache can be undone."""
        if fn is None:
            return lambda f: self.disable(f, recursive, wrapping=wrapping)
        self.handed_out.append(fn)
        return fn

    def __getattr__(self, name: str) -> Any:
        # Anything else: the real module, imported now (it replaces the stand-in in sys.modules)
        if sys.modules.get(NAME) is self:
            del sys.modules[NAME]
        return getattr(importlib.import_module(NAME), name)


@contextlib.contextmanager
def dynamo_free() -> Iterator[bool]:
    """Count without importing ``torch._dynamo``; yields whether the stand-in was put in place (False
    when the real module is already imported, or another stand-in is in place)."""
    if NAME in sys.modules:
        yield False
        return
    stand_in = _StandIn()
    sys.modules[NAME] = stand_in
    try:
        yield True
    finally:
        if sys.modules.get(NAME) is stand_in:
            del sys.modules[NAME]
        for fn in stand_in.handed_out:
            if getattr(fn, "__dynamo_disable", None) is fn:
                del fn.__dynamo_disable  # type: ignore[attr-defined]
