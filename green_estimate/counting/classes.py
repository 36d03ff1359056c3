"""Which layer class an aten op belongs to.

The classes are what a profile calibrates and what reports break energy down by. ``conv``,
``linear`` (every GEMM) and ``relu`` (every activation) are the classes the study compares; the rest
make sure nothing is priced at zero. Each op's class is declared with its FLOP formula in the one
registry (:mod:`green_estimate.counting.registry`, declarations in
:mod:`green_estimate.counting.formulas`). ``FREE_OPS`` move no bytes and do no arithmetic (views,
allocations, metadata); they are counted separately as *ignored*, like fvcore's ignored ops. Ops in
no declaration fall into ``other``: their bytes are still counted, and they are listed as uncounted.
"""
from __future__ import annotations

from green_estimate.counting.registry import CLASSES, base_name, class_of

__all__ = ["CLASSES", "FREE_OPS", "base_name", "class_of", "is_free", "is_in_place", "op_name"]

# Ops that neither compute nor move data: views, allocations without initialisation, metadata,
# host-side scalars and profiler markers. Counted as "ignored", never as a cost.
FREE_OPS: frozenset[str] = frozenset({
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "as_strided", "detach",
    "alias", "unsqueeze", "squeeze", "select", "slice", "split", "split_with_sizes", "unbind",
    "chunk", "narrow", "diagonal", "unflatten", "flatten", "view_as", "expand_as", "movedim",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh",
    "_local_scalar_dense", "is_same_size", "_has_compatible_shallow_copy_type", "set_", "resize_",
    "_record_function_enter_new", "_record_function_exit", "_record_function_enter", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "_reshape_alias", "_nested_tensor_from_mask",
    "unfold", "real", "imag", "_conj", "conj", "_neg_view", "resolve_conj", "resolve_neg",
    "_assert_async", "_assert_scalar", "_functional_assert_async", "item", "dim", "size", "stride",
})


def op_name(func: object) -> str:
    """``aten.addmm.default`` → ``addmm``; ``aten._foreach_add_.List`` → ``_foreach_add_``."""
    packet = getattr(func, "overloadpacket", func)
    return getattr(packet, "__name__", str(packet)).split(".")[-1]


def is_in_place(name: str) -> bool:
    """True for an aten op that writes into its first argument (``add_``, ``_foreach_mul_``), not a
    dunder (``__and__``)."""
    return name.endswith("_") and not name.startswith("__")


def is_free(name: str) -> bool:
    """True for views, allocations and metadata ops, which cost nothing."""
    return name in FREE_OPS
