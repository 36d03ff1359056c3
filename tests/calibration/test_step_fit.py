"""The step model, per-class power and leave-one-family-out intervals, on synthetic networks."""
from __future__ import annotations

import random

import numpy as np
import pytest

from green_estimate.calibration.calibrator import fit_profile
from green_estimate.calibration.step_fit import STEP_FEATURES, fit_power, fit_step, quantile


def test_quantile_is_the_conservative_order_statistic():
    errs = [0.5, 0.1, 0.3, 0.2, 0.4]
    assert quantile(errs, 0.5) == 0.3    # ⌈0.5·6⌉ = 3rd smallest
    assert quantile(errs, 0.9) == 0.5    # ⌈0.9·6⌉ = 6 > 5: the largest
    assert quantile([], 0.9) == float("inf")


I = {f: STEP_FEATURES.index(f) for f in STEP_FEATURES}


def _design(n: int, rng: np.random.Generator) -> np.ndarray:
    X = np.zeros((n, len(STEP_FEATURES)))
    X[:, I["op_time_s"]] = rng.uniform(1e-3, 5e-2, n)
    X[:, I["const"]] = 1.0
    X[:, I["dispatches"]] = rng.integers(50, 500, n)
    X[:, I["param_tensors"]] = rng.integers(2, 40, n)
    return X


def test_fit_step_recovers_scales_and_prices_an_absent_region_at_the_op_scale():
    rng = np.random.default_rng(0)
    n = 30
    X = _design(n, rng)
    X[:, I["attention_time_s"]] = np.where(np.arange(n) % 3 == 0, rng.uniform(1e-3, 1e-2, n), 0.0)  # on a third
    y = 1.2 * X[:, 0] + 2.5 * X[:, I["attention_time_s"]] + 1e-4 + 2e-6 * X[:, I["dispatches"]] + 1e-5 * X[:, I["param_tensors"]]
    params, _ = fit_step(X, y)
    assert params[0] == pytest.approx(1.2, rel=1e-6) and params[I["attention_time_s"]] == pytest.approx(2.5, rel=1e-6)
    for g in ("rnn_var", "rnn_fixed", "lstm_flops"):  # no network had an RNN: the op scale
        assert params[I[f"{g}_time_s"]] == params[0]
    assert [params[I[k]] for k in ("const", "dispatches", "param_tensors")] == pytest.approx([1e-4, 2e-6, 1e-5], rel=1e-5)


def _fresh_steps() -> tuple[np.ndarray, np.ndarray]:
    """Steps of which a quarter write large new tensors; freeing them costs 1e-10 s per byte."""
    rng = np.random.default_rng(2)
    n = 40
    X = _design(n, rng)
    X[:, I["fresh_bytes"]] = np.where(np.arange(n) % 4 == 0, rng.uniform(4e7, 4e8, n), 0.0)
    return X, 1.1 * X[:, 0] + 2e-4 + 1e-6 * X[:, I["dispatches"]] + 1e-10 * X[:, I["fresh_bytes"]]


def test_fit_step_recovers_the_cost_of_fresh_pages_between_ops():
    X, y = _fresh_steps()
    params, _ = fit_step(X, y)
    assert params[I["fresh_bytes"]] == pytest.approx(1e-10, rel=1e-5) and params[0] == pytest.approx(1.1, rel=1e-6)


def test_a_measured_unmap_cost_is_held_and_the_other_terms_fit_what_is_left():
    # the same steps with the unmapping measured apart at 1e-10 s/byte: held there, the rest exact; a
    # wrong measured cost is priced as given and the fit makes the best of the rest
    X, y = _fresh_steps()
    params, fit = fit_step(X, y, fixed={"fresh_bytes": 1e-10})
    assert params[I["fresh_bytes"]] == 1e-10 and fit.cov_params()[I["fresh_bytes"]][I["fresh_bytes"]] == 0.0
    assert params[0] == pytest.approx(1.1, rel=1e-6) and params[I["dispatches"]] == pytest.approx(1e-6, rel=1e-5)
    wrong, _ = fit_step(X, y, fixed={"fresh_bytes": 3e-10})
    assert wrong[I["fresh_bytes"]] == 3e-10


def test_a_region_whose_two_halves_move_together_is_priced_whole():
    # every GRU's per-op time is a third of its other time: the two scales cannot be told apart, and an
    # unbounded fit may drive one below zero; bounded at zero, the region is still priced right
    rng = np.random.default_rng(1)
    n = 40
    X = _design(n, rng)
    gru = np.where(np.arange(n) % 2 == 0, rng.uniform(1e-2, 5e-2, n), 0.0)
    X[:, I["rnn_var_time_s"]] = 0.75 * gru
    X[:, I["rnn_fixed_time_s"]] = 0.25 * gru
    y = 1.1 * X[:, 0] + 0.3 * gru + 2e-4 + 1e-6 * X[:, I["dispatches"]]
    y = y * (1 + 0.01 * rng.standard_normal(n))  # noise lets the split scales wander
    params, _ = fit_step(X, y)
    a, b = params[I["rnn_var_time_s"]], params[I["rnn_fixed_time_s"]]
    assert a >= 0 and b >= 0 and a + b > 0
    assert float(np.median((a * X[:, I["rnn_var_time_s"]] + b * X[:, I["rnn_fixed_time_s"]])[gru > 0] / gru[gru > 0])) \
        == pytest.approx(0.3, rel=0.1)


def test_a_term_whose_own_coefficient_would_be_negative_is_held_at_zero():
    rng = np.random.default_rng(2)
    n = 40
    X = _design(n, rng)
    gru = np.where(np.arange(n) % 2 == 0, rng.uniform(1e-2, 5e-2, n), 0.0)
    X[:, I["rnn_var_time_s"]] = 0.75 * gru
    X[:, I["rnn_fixed_time_s"]] = 0.25 * gru * rng.uniform(0.9, 1.1, n)
    # the per-op half's time *lowers* the step: unbounded, its scale would be negative
    y = 1.1 * X[:, 0] + 0.4 * X[:, I["rnn_var_time_s"]] - 0.5 * X[:, I["rnn_fixed_time_s"]] + 2e-4
    cols = [j for j in range(X.shape[1]) if X[:, j].any()]
    unbounded = np.linalg.lstsq(X[:, cols] / y[:, None], np.ones(n), rcond=None)[0]
    assert unbounded[cols.index(I["rnn_fixed_time_s"])] < 0  # the data do ask for a negative scale
    params, fit = fit_step(X, y)
    assert params[I["rnn_fixed_time_s"]] == 0.0
    assert min(params) >= 0 and params[I["rnn_var_time_s"]] > 0 and params[0] == pytest.approx(1.1, rel=0.05)
    assert len(fit.params) == len(STEP_FEATURES) and np.shape(fit.cov_params()) == (len(STEP_FEATURES),) * 2


def test_a_region_few_networks_have_gets_one_scale_for_both_halves():
    # 5 GRU networks whose halves cost 0.2 and 1.4: too few networks to trust a split (on a real
    # machine their noise decides it), so one scale prices the region, at about its average
    from green_estimate.calibration.step_fit import MIN_REGION_NETWORKS

    rng = np.random.default_rng(4)
    n = 30
    X = _design(n, rng)
    gru = np.arange(n) < 5
    assert gru.sum() < MIN_REGION_NETWORKS
    X[:, I["rnn_var_time_s"]] = np.where(gru, rng.uniform(1e-2, 3e-2, n), 0.0)
    X[:, I["rnn_fixed_time_s"]] = np.where(gru, rng.uniform(5e-3, 1e-2, n), 0.0)
    region = X[:, I["rnn_var_time_s"]] + X[:, I["rnn_fixed_time_s"]]
    y = 1.1 * X[:, 0] + 0.2 * X[:, I["rnn_var_time_s"]] + 1.4 * X[:, I["rnn_fixed_time_s"]] + 2e-4
    params, _ = fit_step(X, y)
    a, b = params[I["rnn_var_time_s"]], params[I["rnn_fixed_time_s"]]
    assert a == b > 0
    true_share = (0.2 * X[gru, I["rnn_var_time_s"]] + 1.4 * X[gru, I["rnn_fixed_time_s"]]).sum() / region[gru].sum()
    assert a == pytest.approx(true_share, rel=0.15)
    # with as many networks as the threshold, each half keeps its own scale
    many = np.arange(n) < MIN_REGION_NETWORKS
    X[:, I["rnn_var_time_s"]] = np.where(many, rng.uniform(1e-2, 3e-2, n), 0.0)
    X[:, I["rnn_fixed_time_s"]] = np.where(many, rng.uniform(5e-3, 1e-2, n), 0.0)
    y = 1.1 * X[:, 0] + 0.2 * X[:, I["rnn_var_time_s"]] + 1.4 * X[:, I["rnn_fixed_time_s"]] + 2e-4
    params, _ = fit_step(X, y)
    assert params[I["rnn_var_time_s"]] == pytest.approx(0.2, rel=1e-3)
    assert params[I["rnn_fixed_time_s"]] == pytest.approx(1.4, rel=1e-3)


def test_a_grus_priced_time_is_split_into_per_op_terms_and_the_rest_and_an_lstms_is_its_flop_terms():
    from green_estimate.calibration.step_fit import class_times, step_features

    def model(features, params):
        return {"time_s": {"form": "linear", "features": features, "params": params,
                           "cov": [[0.0] * len(params) for _ in params], "resid_rel_sd": 0.0, "df_resid": 5}}

    classes = {"linear": model(["const", "backward_const", "flops", "bytes"], [4e-6, 3e-6, 1e-11, 1e-10]),
               "elementwise": model(["const", "bytes"], [2e-6, 1e-10])}

    def cell(region):  # a recurrent cell's ops: a GEMM each way and a gate
        return [["aten.mm", "linear", "forward", 10**7, 10**5, 1, 8, 64, 256, 0, region, None],
                ["aten.mm", "linear", "backward", 2 * 10**7, 10**5, 1, 8, 64, 256, 0, region, None],
                ["aten.sigmoid", "elementwise", "forward", 0, 10**4, 1, 0, 0, 0, 0, region, None]]

    ops = cell("rnn") + cell("lstm") + [["aten.add", "elementwise", "forward", 0, 10**6, 1, 0, 0, 0, 0, "", None]]
    sample = {"ops": ops, "structure": {"param_tensors": 3, "ignored_ops": 2}}
    t = class_times(sample, classes, "elementwise")
    # GRU per-op terms: two mm (4 µs each, one backward +3 µs) and a sigmoid (2 µs); the rest: FLOPs and bytes
    assert t["rnn_fixed"] == pytest.approx({"linear": 2 * 4e-6 + 3e-6, "elementwise": 2e-6})
    assert t["rnn_var"] == pytest.approx({"linear": 1e-11 * 3 * 10**7 + 1e-10 * 2 * 10**5, "elementwise": 1e-10 * 10**4})
    # the LSTM's: the FLOP term alone (its gate has none)
    assert t["lstm_flops"] == pytest.approx({"linear": 1e-11 * 3 * 10**7, "elementwise": 0.0})
    assert t["op"] == pytest.approx({"elementwise": 2e-6 + 1e-10 * 10**6})
    x = step_features(sample, t)
    assert x[I["rnn_fixed_time_s"]] == pytest.approx(13e-6) and x[I["rnn_var_time_s"]] == pytest.approx(3e-4 + 2e-5 + 1e-6)
    assert x[I["lstm_flops_time_s"]] == pytest.approx(3e-4)


def test_fit_power_recovers_each_class_power():
    rng = random.Random(2)
    scaled, times, samples = [], [], []
    for _ in range(20):
        c = {"conv": rng.uniform(1e-3, 1e-2), "linear": rng.uniform(1e-3, 1e-2), "relu": rng.uniform(1e-3, 1e-2)}
        t = sum(c.values()) + rng.uniform(1e-4, 1e-3)
        e = 30 * c["conv"] + 20 * c["linear"] + 12 * c["relu"] + 10 * (t - sum(c.values()))
        scaled.append(c), times.append(t), samples.append({"energy_j": e})
    p = fit_power(samples, scaled, times)
    assert p["classes"] == pytest.approx({"conv": 30, "linear": 20, "relu": 12}, rel=1e-6)
    assert p["rest_w"] == pytest.approx(10, rel=1e-6)


def test_fit_power_on_as_few_networks_as_classes_gives_the_smallest_the_rests_power():
    # 4 networks with 4 classes each over 5% of the time: a power each and the rest's would be 5
    # unknowns (statsmodels' robust fit divided by its 0 residual degrees of freedom, in a calibration
    # stopped early by --max-minutes). The two largest classes keep their own, the others share the rest's.
    rng = random.Random(5)
    scaled, times, samples = [], [], []
    for _ in range(4):
        c = {"conv": rng.uniform(4e-3, 6e-3), "linear": rng.uniform(2e-3, 3e-3), "relu": rng.uniform(1e-3, 2e-3),
             "norm": rng.uniform(1e-3, 2e-3)}
        t = sum(c.values()) + rng.uniform(1e-4, 1e-3)
        e = 30 * c["conv"] + 20 * c["linear"] + 10 * (t - c["conv"] - c["linear"])
        scaled.append(c), times.append(t), samples.append({"energy_j": e})
    p = fit_power(samples, scaled, times)
    assert sorted(p["classes"]) == ["conv", "linear"]
    assert p["classes"] == pytest.approx({"conv": 30, "linear": 20}, rel=1e-6)
    assert p["rest_w"] == pytest.approx(10, rel=1e-6)


def synthetic_samples(n: int = 24) -> list[dict]:
    """Networks whose op times follow exact linear costs and whose step is 1.1 × ops + 200 µs."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        family = ("cnn", "mlp", "resnet")[i % 3]
        ops = []
        for _ in range(rng.randint(3, 8)):
            f, b = rng.randint(10**5, 10**8), rng.randint(10**4, 10**6)
            ops.append(["aten.mm", "linear", "forward", f, b, 1, 128, 64, 256, 0, "", 5e-6 + 1e-11 * f])
            ops.append(["aten.add", "elementwise", "forward", 0, b, 1, 0, 0, 0, 0, "", 2e-6 + 1e-10 * b])
        op_time = sum(r[-1] for r in ops)
        t = 1.1 * op_time + 2e-4
        out.append({"type": "sample", "kind": "network", "params": {"family": family, "seed": i}, "ops": ops,
                    "structure": {"param_tensors": 2 + i % 5, "ignored_ops": 10}, "time_s": t, "energy_j": 15.0 * t,
                    "time_s_repeats": [t, t], "time_spread_rel": 0.0})
    return out


def test_a_profile_fitted_on_exact_networks_predicts_left_out_families_exactly():
    prof = fit_profile(synthetic_samples(), folds=3).to_dict()
    step = prof["step_model"]
    assert step["time_s"]["params"][0] == pytest.approx(1.1, rel=1e-4)
    assert step["time_s"]["params"][I["const"]] == pytest.approx(2e-4, rel=1e-3)
    iv = step["interval"]
    assert iv["families"] == ["cnn", "mlp", "resnet"] and iv["n"] == 24
    assert max(iv["time_s"]["abs_log_err"]) < 1e-3 and max(iv["energy_j"]["abs_log_err"]) < 1e-3
    local = iv["local"]  # the same errors with each network's make-up: linear and elementwise shares
    assert local["kinds"] == ["elementwise", "linear", "fused"] and len(local["family"]) == 24
    assert all(abs(s[0] + s[1] - 1) < 1e-3 and s[2] == 0 for s in local["shares"])
    assert prof["classes"]["linear"]["power_w"] == pytest.approx(15.0, rel=1e-4)


def test_a_network_whose_windows_saw_no_energy_is_left_out_of_the_fit():
    # a GPU window shorter than NVML's counter update reads 0 J: that network says nothing about power,
    # and the profile is the one fitted without it
    samples = synthetic_samples()
    broken = [dict(s) for s in samples]
    broken[4] = {**broken[4], "energy_j": 0.0}
    got = fit_profile(broken, folds=3).to_dict()
    want = fit_profile(samples[:4] + samples[5:], folds=3).to_dict()
    assert got["sample_count"] == 23
    assert got["step_model"]["time_s"]["params"] == pytest.approx(want["step_model"]["time_s"]["params"])
    assert got["classes"]["linear"]["power_w"] == pytest.approx(want["classes"]["linear"]["power_w"])


def test_a_gpu_fit_holds_the_op_time_scale_at_one_at_least():
    # host-bound steps (the H200's small networks): the step is the host's work, and the kernels' time
    # only looks like 0.3× of it. Free, the fit finds 0.3; for a GPU the scale stays at 1 (kernels run
    # one after another on one stream), and the host terms are fitted under that bound
    rng = np.random.default_rng(4)
    X = _design(40, rng)
    y = 0.3 * X[:, 0] + 5e-3 + 3e-5 * X[:, I["dispatches"]]
    free, _ = fit_step(X, y)
    held, _ = fit_step(X, y, op_scale_floor=1.0)
    assert free[0] == pytest.approx(0.3, rel=1e-6) and held[0] == 1.0
    for g in ("rnn_var", "rnn_fixed", "lstm_flops", "attention"):  # absent regions follow the op scale
        assert held[I[f"{g}_time_s"]] == 1.0
    assert min(held) >= 0.0
    # an already physical scale (1.2 here) is not moved by the bound
    y2 = 1.2 * X[:, 0] + 1e-4 + 2e-6 * X[:, I["dispatches"]]
    assert fit_step(X, y2, op_scale_floor=1.0)[0][0] == pytest.approx(1.2, rel=1e-6)
