"""The one op registry: every declared op has a known class and a formula exactly where it should."""
from __future__ import annotations

import pytest
from torch.utils.flop_counter import flop_registry

from green_estimate.counting.attention import FUSED_OPS
from green_estimate.counting.classes import CLASSES, FREE_OPS, class_of
from green_estimate.counting.registry import declare, declared, spec

OPS = declared()
TORCH_NAMES = {p.__name__.split(".")[-1] for p in flop_registry}
# Known ops with a class but no FLOP formula yet (bytes counted, listed as uncounted). Adding a
# name here must be a decision, not an accident.
UNCOUNTED = {
    "convolution_backward_overrideable", "cudnn_convolution_transpose", "mkldnn_convolution",
    "_slow_conv2d_backward", "slow_conv3d_forward", "slow_conv_transpose2d", "_conv_depthwise2d",
    "addbmm", "mv", "addmv", "dot", "vdot", "addr", "outer", "_low_memory_max_pool2d_with_offsets",
}


def test_every_declared_op_has_a_known_class():
    assert OPS and all(s.cls in CLASSES and s.cls != "other" for s in OPS.values())


def _problem(name: str) -> str | None:
    s = OPS[name]
    if (s.flops is not None) != (s.priced_by == "formula"):
        return f"{name}: priced_by {s.priced_by!r} with formula {s.flops}"
    if s.priced_by == "pytorch" and name not in TORCH_NAMES:
        return f"{name}: PyTorch has no formula for it"
    if s.priced_by == "attention" and name not in FUSED_OPS:
        return f"{name}: not a fused attention op"
    return None


def test_every_declared_op_has_its_formula():
    assert [p for p in map(_problem, sorted(OPS)) if p] == []


def test_uncounted_ops_are_exactly_the_known_list():
    assert {n for n, s in OPS.items() if s.priced_by == "uncounted"} == UNCOUNTED


def test_fused_attention_ops_are_all_declared():
    assert {n for n, s in OPS.items() if s.priced_by == "attention"} == set(FUSED_OPS)


def test_pytorch_formulas_for_classed_ops_are_used():
    # every aten op PyTorch prices and we declare is either priced by PyTorch or deliberately by us
    for name in TORCH_NAMES & set(OPS):
        assert OPS[name].priced_by in ("pytorch", "attention") or name == "convolution_backward", name


def test_a_datasheet_profile_prices_every_class():
    from green_estimate.datasheet import CLASSES as PRICED

    assert set(PRICED) == set(CLASSES)


def test_free_ops_are_not_declared():
    assert not FREE_OPS & set(OPS)


def test_pointwise_twins_share_class_and_formula():
    for name in ("add", "mul", "relu", "gelu", "lerp"):
        specs = [spec(n) for n in (name, name + "_", "_foreach_" + name, "_foreach_" + name + "_")]
        assert len({(s.cls, s.flops) for s in specs}) == 1


def test_undeclared_twins_take_the_class_of_their_base_op():
    assert spec("index_put_") is None and class_of("index_put_") == "embedding"
    assert class_of("_foreach_copy_") == "copy"
    assert class_of("no_such_op") == "other"


def test_a_name_declared_twice_is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        declare("linear", "mm", priced_by="pytorch")


def test_a_formula_is_required_exactly_for_priced_by_formula():
    with pytest.raises(ValueError):
        declare("linear", "not_an_op_a", priced_by="formula")
    with pytest.raises(ValueError):
        declare("linear", "not_an_op_b", priced_by="uncounted", flops=lambda a, k, o: 0)
    with pytest.raises(ValueError, match="unknown layer class"):
        declare("gemm", "not_an_op_c", priced_by="uncounted")
    assert spec("not_an_op_a") is None and spec("not_an_op_b") is None and spec("not_an_op_c") is None
