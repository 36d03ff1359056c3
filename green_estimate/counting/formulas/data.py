"""Reductions, gathers and scatters, and copies (classes ``reduction``, ``embedding``, ``copy``)."""
from __future__ import annotations

from typing import Any

from green_estimate.counting.registry import op
from green_estimate.counting.tensors import first_numel


@op("reduction", "sum", "mean", "amax", "amin", "max", "min", "prod", "argmax", "argmin", "cumsum",
    "cumprod", "any", "all", "count_nonzero", "norm", "linalg_vector_norm")
def _reduction(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1])  # one add/compare per input element


@op("reduction", "var", "std", "var_mean", "std_mean", "logsumexp")
def _two_pass_reduction(args: tuple, kwargs: dict, out: Any) -> int:
    return 3 * first_numel(args[:1])


@op("embedding", "embedding_dense_backward")
def _embedding_backward(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[:1])  # one add per element of grad_output


@op("embedding", "_embedding_bag_backward", "_embedding_bag_dense_backward", "_embedding_bag_sparse_backward")
def _embedding_bag_backward(args: tuple, kwargs: dict, out: Any) -> int:
    # (grad, indices, ...): one add per looked-up index and embedding column
    return first_numel(args[1:2]) * int(args[0].shape[-1])


@op("embedding", "index_add", "scatter_add")
def _index_add(args: tuple, kwargs: dict, out: Any) -> int:
    return first_numel(args[3:4])  # (self, dim, index, source): one add per source element


@op("embedding", "embedding", "index_select", "gather", "scatter", "index", "index_put", "_index_put_impl_",
    "index_copy", "_embedding_bag")
def _data_movement(args: tuple, kwargs: dict, out: Any) -> int:
    return 0  # gathers and scatters move data and do no arithmetic


@op("copy",
    "clone", "copy_", "_to_copy", "cat", "stack", "constant_pad_nd", "repeat", "fill_", "fill",
    "zero_", "zeros_like", "ones_like", "full_like", "zeros", "ones", "full", "new_zeros",
    "new_ones", "new_full", "select_backward", "slice_backward", "expand_copy", "flip", "roll",
    "_unsafe_index", "select_scatter", "slice_scatter", "reflection_pad2d", "replication_pad2d",
    "reflection_pad2d_backward", "replication_pad2d_backward", "arange", "masked_scatter",
    "_pin_memory", "lift_fresh_copy", "split_with_sizes_copy", "alias_copy", "view_copy",
    "_reshape_copy", "masked_select", "diag_embed", "unfold_backward", "col2im", "im2col")
def _copy(args: tuple, kwargs: dict, out: Any) -> int:
    return 0  # copies move data and do no arithmetic
