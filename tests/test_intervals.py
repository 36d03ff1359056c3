"""Intervals local to a step's make-up: weights, the weighted quantile, coverage on left-out families."""
from __future__ import annotations

import math
import random

import pytest

from green_estimate.intervals import FUSED, local_block, local_halfwidth, make_up, weighted_quantile


def test_make_up_is_shares_of_op_time_with_the_fused_part_on_top():
    kinds = ["conv", "linear", FUSED]
    # conv 3 s, linear 1 s, of which 0.5 s in fused regions: shares of the 4 s of op time
    assert make_up({"conv": 3.0, "linear": 1.0, "norm": 9.9}, 0.5, kinds) == [0.75, 0.25, 0.125]
    assert make_up({}, 0.0, kinds) == [0.0, 0.0, 0.0]


def test_weighted_quantile_reaches_the_level_of_the_total_weight():
    errs, w = [0.4, 0.1, 0.3, 0.2], [1.0, 1.0, 1.0, 1.0]
    assert weighted_quantile(errs, w, 0.5) == 0.2      # 2 of 4 weights: the 2nd smallest
    assert weighted_quantile(errs, w, 0.9) == 0.4      # 3.6 of 4: the largest
    assert weighted_quantile(errs, [0.0, 1.0, 0.0, 0.0], 0.9) == 0.1  # all the weight on one network
    assert weighted_quantile([], [], 0.9) == math.inf


def _block(n_per: int = 40) -> dict:
    # two kinds of network: conv-made ones priced to within 5 %, linear-made ones to within 40 %
    rng = random.Random(0)
    shares, fams, errs = [], [], []
    for i in range(4 * n_per):
        conv = i % 2 == 0
        shares.append([0.9, 0.1, 0.0] if conv else [0.1, 0.9, 0.0])
        fams.append(f"{'c' if conv else 'l'}{i % 4 // 2}")  # two families of each kind
        errs.append(rng.uniform(0, 0.05 if conv else 0.4))
    return local_block(["conv", "linear", FUSED], shares, fams, {"time_s": errs, "energy_j": errs}, (0.5, 0.9))


def test_a_conv_step_gets_the_conv_networks_width_and_a_linear_one_theirs():
    b = _block()
    conv_q = local_halfwidth(b, "time_s", 0.9, [0.9, 0.1, 0.0])
    lin_q = local_halfwidth(b, "time_s", 0.9, [0.1, 0.9, 0.0])
    assert conv_q <= 0.05 < 0.3 < lin_q <= 0.4
    # a make-up unlike either (equidistant) weighs both kinds alike: a width between the two
    mid = local_halfwidth(b, "time_s", 0.9, [0.5, 0.5, 0.0])
    assert conv_q < mid <= lin_q


def test_coverage_is_measured_on_families_left_out_and_close_to_the_level():
    cov = _block()["coverage_unseen_family"]["time_s"]
    assert cov["0.9"] == pytest.approx(0.9, abs=0.06) and cov["0.5"] == pytest.approx(0.5, abs=0.1)


def _flat_block() -> dict:
    # 40 networks of one make-up, errors 0.01 … 0.40: every make-up gets the same half-width
    errs = [0.01 * (i + 1) for i in range(40)]
    return local_block(["conv", "linear", FUSED], [[0.5, 0.5, 0.0]] * 40, [f"f{i % 4}" for i in range(40)],
                       {"time_s": errs, "energy_j": errs}, (0.5, 0.9))


def test_the_conformal_scale_is_the_reference_ratio_of_rank_ceil_n_plus_1_times_c():
    from green_estimate.intervals import conformal_scale

    local = _flat_block()
    h = local_halfwidth(local, "time_s", 0.9, [0.5, 0.5, 0.0])
    assert h == pytest.approx(0.36)  # 36 of the 40 equal weights reach 90 %
    # 19 reference errors 0.01 … 0.19: rank ⌈20 × 0.9⌉ = 18 → 0.18, over the half-width 0.36
    ref = {"time_s": [0.01 * j for j in range(19, 0, -1)], "shares": [[0.5, 0.5, 0.0]] * 19}
    assert conformal_scale(local, ref, "time_s", 0.9) == pytest.approx(0.18 / 0.36)
    # at 0.5: rank 10 → 0.10, over the median half-width 0.20
    assert conformal_scale(local, ref, "time_s", 0.5) == pytest.approx(0.10 / 0.20)
    # rank past n (0.99: ⌈19.8⌉ = 20 > 19) takes the largest; fewer than 5 references scale nothing
    assert conformal_scale(local, ref, "time_s", 0.99) == pytest.approx(0.19 / 0.40)
    assert conformal_scale(local, {"time_s": [0.1] * 4, "shares": [[0.5, 0.5, 0.0]] * 4}, "time_s", 0.9) is None
