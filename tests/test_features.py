"""Regression features of one op, against hand arithmetic."""
from __future__ import annotations

from green_estimate.counting.report import OpRecord
from green_estimate.features import FEATURES, FRESH_BYTES, feature_vector

MB = 2**20


def rec(op: str, written: int, read: int = 0, cls: str = "elementwise", **kw) -> OpRecord:
    return OpRecord(f"aten.{op}", cls, "optimizer", "", 0, read, written, **kw)


def test_fresh_bytes_count_new_outputs_of_at_least_32_mib_only():
    big = 64 * MB
    assert FEATURES["bytes_fresh"](rec("sqrt", big, big)) == big          # a new 64 MB tensor: fresh pages
    assert FEATURES["bytes_fresh"](rec("lerp_", big, 2 * big)) == 0.0     # in place: the pages are there
    assert FEATURES["bytes_fresh"](rec("_foreach_add_", big, big)) == 0.0  # in place, leading underscore
    assert FEATURES["bytes_fresh"](rec("sqrt", FRESH_BYTES - 1, FRESH_BYTES - 1)) == 0.0  # the heap serves it
    # summed over ops, as a class model prices them
    assert feature_vector([rec("sqrt", big, big), rec("div", big, 2 * big), rec("mul_", big, big)],
                          ["bytes_fresh", "bytes"]) == [2 * big, 7 * big]


def test_unaligned_conv_flops_by_channel_block():
    def conv(cin: int, depthwise: bool = False) -> OpRecord:
        return OpRecord("aten.convolution", "conv", "forward", "", 1000, 0, 0, gemm_mnk=(64, 8, cin * 9), min_dim=8,
                        depthwise=depthwise, conv_cin=cin)

    assert FEATURES["conv_unaligned16_flops"](conv(24)) == 1000.0   # 24 = 16 + 8: off the 16-block
    assert FEATURES["conv_unaligned8_flops"](conv(24)) == 0.0       # on the 8-block
    assert FEATURES["conv_unaligned16_flops"](conv(32)) == 0.0
    assert FEATURES["conv_unaligned8_flops"](conv(3)) == 1000.0     # an RGB input
    assert FEATURES["conv_unaligned16_flops"](conv(1, depthwise=True)) == 0.0  # depthwise has its own feature
    mm = OpRecord("aten.mm", "linear", "forward", "", 1000, 0, 0, gemm_mnk=(7, 7, 7), min_dim=7)
    assert FEATURES["conv_unaligned16_flops"](mm) == 0.0             # not a convolution


def test_narrow_out_conv_flops_are_grouped_convs_below_eight_output_channels_per_group():
    def conv(cout_g: int, cin_g: int = 8, depthwise: bool = False) -> OpRecord:
        return OpRecord("aten.convolution", "conv", "forward", "", 1000, 0, 0, gemm_mnk=(4096, cout_g, cin_g * 9),
                        min_dim=min(cout_g, cin_g * 9), depthwise=depthwise, conv_cin=cin_g)

    assert FEATURES["conv_narrow_out_flops"](conv(4)) == 1000.0    # 8 → 4 channels per group
    assert FEATURES["conv_narrow_out_flops"](conv(2, 4)) == 1000.0
    assert FEATURES["conv_narrow_out_flops"](conv(8)) == 0.0       # a whole 8-channel block
    assert FEATURES["conv_narrow_out_flops"](conv(1, 1, depthwise=True)) == 0.0  # depthwise: its own kernels
    mm = OpRecord("aten.mm", "linear", "forward", "", 1000, 0, 0, gemm_mnk=(64, 4, 64), min_dim=4)
    assert FEATURES["conv_narrow_out_flops"](mm) == 0.0             # a thin GEMM is not a convolution


def test_depthwise_wide_backward_flops_are_backward_depthwise_convs_wider_than_3x3():
    def dw(kernel: int, phase: str, depthwise: bool = True) -> OpRecord:
        return OpRecord("aten.convolution_backward" if phase == "backward" else "aten.convolution", "conv", phase, "",
                        1000, 0, 0, gemm_mnk=(4096, 1, kernel * kernel), min_dim=1, depthwise=depthwise, conv_cin=1)

    assert FEATURES["depthwise_wide_backward_flops"](dw(5, "backward")) == 1000.0
    assert FEATURES["depthwise_wide_backward_flops"](dw(7, "backward")) == 1000.0
    assert FEATURES["depthwise_wide_backward_flops"](dw(3, "backward")) == 0.0   # 3×3: the fast kernels
    assert FEATURES["depthwise_wide_backward_flops"](dw(5, "forward")) == 0.0
    assert FEATURES["depthwise_wide_backward_flops"](dw(5, "backward", depthwise=False)) == 0.0


def test_depthwise_strided_backward_flops_are_backward_depthwise_convs_stepping_by_more_than_one():
    def dw(stride: int, phase: str, depthwise: bool = True) -> OpRecord:
        return OpRecord("aten.convolution_backward" if phase == "backward" else "aten.convolution", "conv", phase, "",
                        1000, 0, 0, gemm_mnk=(4096, 1, 9), min_dim=1, depthwise=depthwise, conv_cin=1,
                        conv_dims=2, conv_stride=stride)

    ops = [dw(2, "backward"), dw(3, "backward"), dw(1, "backward"), dw(2, "forward"),
           dw(2, "backward", depthwise=False)]
    assert [FEATURES["depthwise_strided_backward_flops"](o) for o in ops] == [1000.0, 1000.0, 0.0, 0.0, 0.0]
    assert feature_vector(ops, ["depthwise_strided_backward_flops", "depthwise_flops"]) == [2000.0, 4000.0]


def test_fresh_bytes_of_a_step_sum_the_fresh_feature():
    from green_estimate.features import fresh_bytes

    big = 64 * MB
    assert fresh_bytes([rec("sqrt", big, big), rec("mul_", big, big), rec("div", 2 * big, big)]) == 3 * big
    assert fresh_bytes([]) == 0.0


def test_pointwise_kinds_by_base_name_in_every_spelling():
    from green_estimate.features import pointwise_kind

    assert pointwise_kind(rec("bernoulli_", 400, 0)) == "rng"               # dropout's mask
    assert pointwise_kind(rec("native_dropout", 400, 400)) == "rng"
    for name in ("sqrt", "sqrt_", "_foreach_sqrt", "_foreach_sqrt_", "div", "tanh", "exp"):
        assert pointwise_kind(rec(name, 400, 400)) == "transcendental", name
    for name in ("add", "add_", "_foreach_add_", "lerp_", "mul", "_softmax", "__and__"):
        assert pointwise_kind(rec(name, 400, 400)) == "", name


def test_kind_bytes_and_new_bytes_against_hand_sums():
    ops = [rec("bernoulli_", 100, 0), rec("sqrt", 200, 200), rec("div_", 300, 300), rec("add", 50, 100),
           rec("add_", 70, 140)]
    # rng: the bernoulli's 100 bytes; costly math: sqrt 400 + div_ 600; new outputs: sqrt 200 + add 50
    # (bernoulli_, div_ and add_ write in place)
    assert feature_vector(ops, ["rng_bytes", "transcendental_bytes", "new_bytes", "bytes"]) == [
        100.0, 1000.0, 250.0, 100 + 400 + 600 + 150 + 210]


def test_indices_sum_the_lookups_of_embedding_ops_in_both_directions():
    fwd = OpRecord("aten.embedding", "embedding", "forward", "", 0, 100, 200, indices=300)
    bwd = OpRecord("aten._embedding_bag_backward", "embedding", "backward", "", 0, 100, 200, indices=70)
    other = OpRecord("aten.add_", "elementwise", "backward", "", 10, 100, 200)
    assert feature_vector([fwd, bwd, other], ["indices", "bytes"]) == [370.0, 900.0]


def test_conv1d_flops_are_dense_1d_convolutions_and_their_backward_a_part_of_them():
    def conv(dims: int, phase: str = "forward", depthwise: bool = False) -> OpRecord:
        return OpRecord("aten.convolution_backward" if phase == "backward" else "aten.convolution", "conv", phase, "",
                        1000, 0, 0, gemm_mnk=(4096, 1 if depthwise else 32, 15), min_dim=15, depthwise=depthwise,
                        conv_cin=1 if depthwise else 8, conv_dims=dims)

    ops = [conv(1), conv(1, "backward"), conv(2), conv(2, "backward"), conv(1, "backward", depthwise=True), conv(3)]
    assert [FEATURES["conv1d_flops"](o) for o in ops] == [1000.0, 1000.0, 0.0, 0.0, 0.0, 0.0]
    assert [FEATURES["conv1d_backward_flops"](o) for o in ops] == [0.0, 1000.0, 0.0, 0.0, 0.0, 0.0]
    mm = OpRecord("aten.mm", "linear", "forward", "", 1000, 0, 0, gemm_mnk=(64, 4, 64), min_dim=4)
    assert FEATURES["conv1d_flops"](mm) == 0.0                      # conv_dims is 0 for every other op
    assert feature_vector(ops, ["conv1d_flops", "conv1d_backward_flops", "flops"]) == [2000.0, 1000.0, 6000.0]


def test_strided_conv_flops_are_dense_convolutions_stepping_by_more_than_one():
    def conv(stride: int, phase: str = "forward", depthwise: bool = False, dims: int = 2) -> OpRecord:
        return OpRecord("aten.convolution_backward" if phase == "backward" else "aten.convolution", "conv", phase, "",
                        1000, 0, 0, gemm_mnk=(4096, 64, 576), min_dim=64, depthwise=depthwise, conv_cin=64,
                        conv_dims=dims, conv_stride=stride)

    ops = [conv(2), conv(2, "backward"), conv(1), conv(1, "backward"), conv(2, depthwise=True), conv(4, dims=1)]
    assert [FEATURES["conv_strided_flops"](o) for o in ops] == [1000.0, 1000.0, 0.0, 0.0, 0.0, 1000.0]
    assert [FEATURES["conv_strided_backward_flops"](o) for o in ops] == [0.0, 1000.0, 0.0, 0.0, 0.0, 0.0]
    mm = OpRecord("aten.mm", "linear", "forward", "", 1000, 0, 0, gemm_mnk=(64, 4, 64), min_dim=4)
    assert FEATURES["conv_strided_flops"](mm) == 0.0


def test_bytes_past_cache_are_an_ops_bytes_beyond_the_dram_threshold():
    from green_estimate.features import BYTES_DRAM

    def conv(read: int, written: int) -> OpRecord:
        return OpRecord("aten.convolution", "conv", "forward", "", 10**8, read, written)

    ops = [conv(10**7, 10**7), conv(16_777_216, 16_777_216), conv(5 * 10**7, 2 * 10**7)]  # 20 MB, 33.5 MB, 70 MB
    past = [feature_vector([o], ["bytes_past_cache"])[0] for o in ops]
    assert past == [0.0, 2 * 16_777_216 - BYTES_DRAM, 7e7 - BYTES_DRAM]
    assert feature_vector(ops, ["bytes_past_cache"]) == [sum(past)]
    # the step feature it replaced priced all of the 33.5 MB op's bytes as memory traffic
    assert feature_vector([ops[1]], ["bytes_dram"]) == [float(2 * 16_777_216)]
