"""Pricing with an in-context profile: step model arithmetic, fused scales, intervals, transfer to another CPU."""
from __future__ import annotations

import inspect
import json
import math
import re

import pytest

from green_estimate.counting.report import CostReport, OpRecord
from green_estimate.errors import ProfileError
from green_estimate.fingerprint import cpu_fingerprint
from green_estimate.predict import predict_report
from green_estimate.pricing import price_step
from green_estimate.profile import Profile
from green_estimate.training_plan import TrainingPlan

ABS_LOG_ERR = [0.01 * i for i in range(1, 21)]  # 20 left-out networks: 1 %, 2 %, ..., 20 % in log


def linear(features, params):
    n = len(features)
    return {"form": "linear", "features": features, "params": params, "cov": [[0.0] * n for _ in range(n)],
            "resid_rel_sd": 0.0, "df_resid": 10}


def incontext_profile(fingerprint=None, probe=None) -> dict:
    classes = {
        "linear": {"time_s": linear(["const", "flops"], [1e-5, 1e-11]), "power_w": 20.0,
                   "energy_j": linear(["const", "flops"], [20 * 1e-5, 20 * 1e-11])},
        "elementwise": {"time_s": linear(["const", "bytes"], [2e-6, 1e-10]), "power_w": 10.0,
                        "energy_j": linear(["const", "bytes"], [10 * 2e-6, 10 * 1e-10])},
    }
    step = {"form": "incontext@1", "features": ["op_time_s", "rnn_linear_time_s", "rnn_other_time_s",
                                                "attention_time_s", "const", "dispatches", "param_tensors"],
            "time_s": {"params": [1.2, 0.5, 0.3, 2.0, 1e-4, 1e-6, 5e-6]},
            "power_w": {"classes": {"linear": 20.0}, "rest_w": 10.0},
            "interval": {"method": "leave-one-family-out", "families": ["a", "b"], "n": 20,
                         "time_s": {"abs_log_err": ABS_LOG_ERR, "coverage_unseen_family": {"0.9": 0.85}},
                         "energy_j": {"abs_log_err": ABS_LOG_ERR, "coverage_unseen_family": {"0.9": 0.8}}}}
    data = {"schema": "green-estimate/profile@1", "name": "incontext-test", "provenance": "estimated",
            "device": {"kind": "cpu", "name": "test cpu", "fingerprint": fingerprint or cpu_fingerprint()},
            "meter": {"name": "fake"}, "default_class": "elementwise", "classes": classes, "step_model": step}
    if probe:
        data["probe"] = probe
    return data


def report() -> CostReport:
    ops = [OpRecord("aten.mm", "linear", "forward", "", 10**8, 10**6, 0, min_dim=64),
           OpRecord("aten.mm", "linear", "backward", "", 10**8, 10**6, 0, min_dim=64, fused="rnn"),
           OpRecord("aten.add", "elementwise", "forward", "", 0, 10**5, 0),
           OpRecord("aten.bmm", "linear", "forward", "", 10**7, 10**5, 0, fused="attention")]
    return CostReport("m", 8, "adam", 1000, [], ops, {"aten.view": 6}, param_tensors=4)


def test_step_model_arithmetic_by_hand():
    classes = price_step(report(), Profile.from_dict(incontext_profile()))
    mm = 1e-5 + 1e-11 * 10**8            # 1.01 ms per mm
    bmm = 1e-5 + 1e-11 * 10**7
    add = 2e-6 + 1e-10 * 10**5
    assert classes["linear"].time_s == pytest.approx(1.2 * mm + 0.5 * mm + 2.0 * bmm)
    assert classes["elementwise"].time_s == pytest.approx(1.2 * add)
    overhead = 1e-4 + 1e-6 * (4 + 6) + 5e-6 * 4  # const + dispatches (4 ops + 6 views) + parameter tensors
    assert classes["overhead"].time_s == pytest.approx(overhead)
    assert classes["linear"].energy_j == pytest.approx(20 * classes["linear"].time_s)
    assert classes["overhead"].energy_j == pytest.approx(10 * overhead)


def test_a_grus_per_op_terms_and_the_rest_have_scales_of_their_own_and_an_lstms_flops_one():
    data = incontext_profile()
    step = data["step_model"]
    step["features"][1:3] = ["rnn_var_time_s", "rnn_fixed_time_s"]
    step["time_s"]["params"][1:3] = [0.5, 0.1]
    step["features"].insert(3, "lstm_flops_time_s")
    step["time_s"]["params"].insert(3, 0.8)
    rep = report()
    cells = [OpRecord("aten.sigmoid", "elementwise", "forward", "", 0, 10**4, 0, fused="rnn"),
             OpRecord("aten.mm", "linear", "forward", "", 10**6, 10**5, 0, min_dim=8, fused="lstm"),
             OpRecord("aten.sigmoid", "elementwise", "forward", "", 0, 10**4, 0, fused="lstm")]
    rep = CostReport("m", 8, "adam", 1000, [], rep.ops + cells, {"aten.view": 6}, param_tensors=4)
    classes = price_step(rep, Profile.from_dict(data))
    mm, bmm, add = 1e-5 + 1e-11 * 10**8, 1e-5 + 1e-11 * 10**7, 2e-6 + 1e-10 * 10**5
    rnn_mm = 0.5 * 1e-11 * 10**8 + 0.1 * 1e-5       # the rest of its price × 0.5, its const × 0.1
    rnn_cell = 0.5 * 1e-10 * 10**4 + 0.1 * 2e-6
    lstm_mm = 0.8 * 1e-11 * 10**6                    # an LSTM's ops: their FLOP term × 0.8, nothing else
    assert classes["linear"].time_s == pytest.approx(1.2 * mm + rnn_mm + lstm_mm + 2.0 * bmm)
    assert classes["linear"].fused_time_s == pytest.approx(rnn_mm + lstm_mm + 2.0 * bmm)
    assert classes["elementwise"].time_s == pytest.approx(1.2 * add + rnn_cell)
    assert classes["elementwise"].energy_j == pytest.approx(10 * classes["elementwise"].time_s)
    # a profile made before the split prices a region's linear ops at 0.5 and its other ops at 0.3,
    # every term (an LSTM with the GRU's scales: that profile has none of its own)
    old = price_step(rep, Profile.from_dict(incontext_profile()))
    lstm_mm_whole = 1e-5 + 1e-11 * 10**6
    assert old["linear"].time_s == pytest.approx(1.2 * mm + 0.5 * mm + 0.5 * lstm_mm_whole + 2.0 * bmm)
    assert old["elementwise"].time_s == pytest.approx(1.2 * add + 0.3 * 2 * (2e-6 + 1e-10 * 10**4))


def test_fresh_bytes_are_priced_between_ops_by_the_step_model():
    # a step model with a fresh-page term: a 64 MiB new tensor (sqrt) is unmapped when freed, between
    # ops; an in-place update of the same size (mul_) and a 1 MiB new tensor are not
    data = incontext_profile()
    step = data["step_model"]
    step["features"].append("fresh_bytes")
    step["time_s"]["params"].append(2e-10)
    big = 64 * 2**20
    extra = [OpRecord("aten.sqrt", "elementwise", "optimizer", "", 0, big, big),
             OpRecord("aten.mul_", "elementwise", "optimizer", "", 0, big, big),
             OpRecord("aten.sqrt", "elementwise", "optimizer", "", 0, 2**20, 2**20)]
    rep = report()
    with_fresh = CostReport("m", 8, "adam", 1000, [], rep.ops + extra, {"aten.view": 6}, param_tensors=4)
    classes = price_step(with_fresh, Profile.from_dict(data))
    overhead = 1e-4 + 1e-6 * (7 + 6) + 5e-6 * 4 + 2e-10 * big
    assert classes["overhead"].time_s == pytest.approx(overhead)
    # a profile made before the term prices the same step without it
    old = price_step(with_fresh, Profile.from_dict(incontext_profile()))
    assert old["overhead"].time_s == pytest.approx(overhead - 2e-10 * big)


def test_interval_is_the_left_out_families_error_quantile():
    pred = predict_report(report(), plan=TrainingPlan(8, steps_given=3), profile=Profile.from_dict(incontext_profile()))
    lo, hi = pred.time_interval()
    q = 0.19  # ⌈0.9 · 21⌉ = 19th smallest of 0.01..0.20
    assert lo == pytest.approx(pred.time_s * math.exp(-q)) and hi == pytest.approx(pred.time_s * math.exp(q))
    d = pred.to_dict()
    assert d["interval"]["coverage_unseen_family"] == {"confidence": 0.9, "time_s": 0.85, "energy_j": 0.8}
    assert d["total"]["time_s_interval"] == pytest.approx([3 * lo, 3 * hi])


def test_an_old_microbenchmark_profile_asks_to_recalibrate():
    data = incontext_profile()
    data["step_model"] = {"classes": {}, "const": {}}  # stage two of the microbenchmark method
    with pytest.raises(ProfileError, match="recalibrate"):
        Profile.from_dict(data)


PROBE = {"gemm_flops_per_s": 1e11, "thin_gemm_flops_per_s": 2e10, "bandwidth_bytes_per_s": 2e10,
         "dispatch_s": 4e-6, "python_loop_s": 1e-3, "reference_steps": [
             {"family": "mlp", "seed": 3, "batch": 4, "optimizer": "adam", "time_s": 1.0}]}


def test_one_reference_step_far_off_widens_by_the_median_and_moves_no_prediction(monkeypatch):
    """Three reference steps, one of them off by ×20 on this CPU (a kernel path of its own): the interval
    widens by the median of their errors, not the largest, and the rescaled prices stand."""
    import green_estimate.device_probe as probe_mod
    import green_estimate.transfer as transfer

    refs = [{"family": "mlp", "seed": s, "batch": 4, "optimizer": "adam", "time_s": 1.0} for s in (3, 4, 5)]
    made = {**PROBE, "reference_steps": refs}
    foreign = Profile.from_dict(incontext_profile(fingerprint={"cpu_model": "elsewhere", "threads": 2}, probe=made))
    here = {**PROBE, "fingerprint": {"cpu_model": "here", "threads": 16}, "reference_steps": []}
    r = probe_mod.ratios(made, here)
    scaled = transfer.rescaled(foreign, r)
    want = (20.0, 1.5, 0.8)  # each step's error here, relative to its error at home
    for ref, w in zip(refs, want):
        rep = transfer._reference_report(ref)
        home_ratio = ref["time_s"] / transfer._step_time_s(foreign, rep)
        here["reference_steps"].append({**ref, "time_s": w * home_ratio * transfer._step_time_s(scaled, rep)})
    monkeypatch.setattr(probe_mod, "probe_here", lambda: here)
    final, notes = transfer.transfer_profile(foreign)
    t = final.data["transfer"]
    assert t["reference_log_errors"] == pytest.approx([math.log(w) for w in want])
    assert t["log_error"] == pytest.approx(math.log(1.5))  # median of |log 20|, |log 1.5|, |log 0.8|
    assert final.data["classes"] == scaled.data["classes"] and final.data["step_model"] == scaled.data["step_model"]
    assert "×20.00, ×1.50, ×0.80" in notes[0] and "(50%)" in notes[0]


def test_a_profile_from_another_cpu_is_rescaled_and_widened_by_its_reference_steps(monkeypatch):
    import green_estimate.device_probe as probe_mod
    import green_estimate.transfer as transfer

    here = {**PROBE, "gemm_flops_per_s": 5e10, "bandwidth_bytes_per_s": 1e10, "dispatch_s": 8e-6,
            "python_loop_s": 2e-3, "fingerprint": {"cpu_model": "here", "threads": 2},
            "reference_steps": [{"family": "mlp", "seed": 3, "batch": 4, "optimizer": "adam", "time_s": 0.03}]}
    monkeypatch.setattr(probe_mod, "probe_here", lambda: here)
    foreign = Profile.from_dict(incontext_profile(fingerprint={"cpu_model": "elsewhere", "threads": 2}, probe=PROBE))
    scaled = transfer.rescaled(foreign, probe_mod.ratios(PROBE, here))
    # this CPU's GEMMs run at half the rate, its bandwidth is half, its dispatch twice as slow: all ×2
    assert scaled.data["classes"]["linear"]["time_s"]["params"] == pytest.approx([2e-5, 2e-11])
    assert scaled.data["classes"]["elementwise"]["time_s"]["params"] == pytest.approx([4e-6, 2e-10])
    assert scaled.data["step_model"]["time_s"]["params"][4] == pytest.approx(2e-4)  # Python ×2, dispatch ×2
    ref = transfer._reference_report(here["reference_steps"][0])
    predicted_ref = transfer._step_time_s(scaled, ref)
    home_ratio = 1.0 / transfer._step_time_s(foreign, ref)  # measured 1.0 s there
    final, notes = transfer.transfer_profile(foreign)
    k = (0.03 / predicted_ref) / home_ratio
    t = final.data["transfer"]
    # the reference step widens the interval by its error here; it does not move the prediction
    assert t["reference_log_errors"] == pytest.approx([math.log(k)]) and t["log_error"] == pytest.approx(abs(math.log(k)))
    assert "reference_correction" not in t
    assert final.data["classes"]["linear"]["time_s"]["params"] == pytest.approx([2e-5, 2e-11])
    shown = re.search(r"reference steps took ×([0-9.]+) the time it predicts", notes[0])
    assert shown and float(shown.group(1)) == pytest.approx(k, abs=0.006), notes[0]
    assert t["from"] == "elsewhere (2 threads)" and t["to"] == "here (2 threads)"
    assert "made on elsewhere (2 threads); rescaled to this CPU, here (2 threads)" in notes[0]
    assert "cached" not in notes[0]  # a probe measured just now
    here.update(cached=True, cache_path="/home/u/probes/here.json", measured_utc="2026-01-02T03:04:05Z")
    foreign.carried = None
    _, notes = transfer.transfer_profile(foreign)
    assert notes[0].endswith("The probe was measured at 2026-01-02T03:04:05Z and cached in "
                             "/home/u/probes/here.json; `green-estimate probe` measures it again.")
    foreign.carried = None
    pred = predict_report(report(), plan=TrainingPlan(8, steps_given=1), profile=foreign)
    # one note says where the profile came from and what carrying it here did; not a second, bare one
    assert sum("rescaled to this CPU" in n for n in pred.notes) == 1
    assert not any("measured on another device" in n for n in pred.notes)
    lo, hi = pred.time_interval()
    assert hi / pred.time_s == pytest.approx(math.exp(0.19 + abs(math.log(k))))
    # a second prediction with the same profile object reuses the carried profile: no second probe
    monkeypatch.setattr(probe_mod, "probe_here", lambda: pytest.fail("probed the same profile twice"))
    assert predict_report(report(), plan=TrainingPlan(8, steps_given=1), profile=foreign).time_s == pred.time_s


def test_a_profile_made_here_is_not_probed(monkeypatch):
    import green_estimate.device_probe as probe_mod

    monkeypatch.setattr(probe_mod, "probe_here", lambda: pytest.fail("probed a profile made on this CPU"))
    prof = Profile.from_dict(incontext_profile(probe=PROBE))
    pred = predict_report(report(), plan=TrainingPlan(8, steps_given=1), profile=prof)
    assert "transfer" not in pred.profile.data


def test_a_cached_probe_is_reused_only_if_timed_the_current_way(tmp_path, monkeypatch):
    import green_estimate.device_probe as probe_mod

    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(tmp_path))
    runs = []
    monkeypatch.setattr(probe_mod, "run_probe", lambda: runs.append(1) or {
        "schema": probe_mod.PROBE_SCHEMA, "method": probe_mod.PROBE_METHOD, **dict.fromkeys(probe_mod.RATE_KEYS, 1.0),
        "fingerprint": cpu_fingerprint()})
    first = probe_mod.probe_here()
    second = probe_mod.probe_here()
    assert (first["cached"], second["cached"], len(runs)) == (False, True, 1)
    path = next((tmp_path / "probes").glob("*.json"))
    assert first["cache_path"] == second["cache_path"] == str(path)
    # a probe cached before the reference steps were timed in a settled allocator: measured again
    path.write_text(json.dumps({"schema": probe_mod.PROBE_SCHEMA, "gemm_flops_per_s": 2.0}))
    third = probe_mod.probe_here()
    assert (third["cached"], third["gemm_flops_per_s"], len(runs)) == (False, 1.0, 2)
    # a probe of another CPU under this CPU's file name (a CPU of the same name, other instructions): again
    other = {"schema": probe_mod.PROBE_SCHEMA, "method": probe_mod.PROBE_METHOD, **dict.fromkeys(probe_mod.RATE_KEYS, 3.0)}
    path.write_text(json.dumps({**other, "fingerprint": {**cpu_fingerprint(), "isa": "SSE-only"}}))
    fourth = probe_mod.probe_here()
    assert (fourth["cached"], fourth["gemm_flops_per_s"], len(runs)) == (False, 1.0, 3)
    # a probe of this CPU by an older probe that timed no convolution: measured again
    older = {**other, "fingerprint": cpu_fingerprint()}
    del older["conv_flops_per_s"]
    path.write_text(json.dumps(older))
    fifth = probe_mod.probe_here()
    assert (fifth["cached"], fifth["gemm_flops_per_s"], len(runs)) == (False, 1.0, 4)


def test_the_probe_cache_is_per_cpu_identity_and_instructions(tmp_path, monkeypatch):
    import green_estimate.device_probe as probe_mod

    monkeypatch.setenv("GREEN_ESTIMATE_HOME", str(tmp_path))
    fp = {"cpu_model": "AMD EPYC", "threads": 2}
    paths = {probe_mod._cache_path(f, "2.13.0") for f in (fp, {**fp, "cpu_id": "25/1/1", "isa": "AVX2"},
                                                          {**fp, "cpu_id": "25/17/1", "isa": "AVX2"},
                                                          {**fp, "cpu_id": "25/17/1", "isa": "AVX512"})}
    assert len(paths) == 4


def test_conv_coefficients_follow_the_probed_convolution_rate():
    import green_estimate.device_probe as probe_mod

    here = {**PROBE, "gemm_flops_per_s": 5e10, "conv_flops_per_s": 1e10}
    made = {**PROBE, "conv_flops_per_s": 4e10}
    r = probe_mod.ratios(made, here)
    assert r["conv_flops"] == pytest.approx(4.0) and r["flops"] == pytest.approx(2.0)
    assert probe_mod.feature_ratio("flops", r, "conv") == pytest.approx(4.0)
    assert probe_mod.feature_ratio("backward_flops", r, "conv") == pytest.approx(4.0)
    assert probe_mod.feature_ratio("flops", r, "linear") == pytest.approx(2.0)
    assert probe_mod.feature_ratio("bytes", r, "conv") == pytest.approx(r["bytes"])
    # a profile probed before convolutions were timed: its conv FLOPs follow the GEMM rate
    old = probe_mod.ratios(PROBE, here)
    assert "conv_flops" not in old and probe_mod.feature_ratio("flops", old, "conv") == pytest.approx(2.0)


def test_the_probe_takes_each_figure_as_the_median_of_interleaved_rounds(monkeypatch):
    import green_estimate.device_probe as probe_mod

    # every timing of every kernel and reference step, in the order taken: round 2 of all is 10× slow
    calls: list[str] = []

    def fake_rate(fn, budget_s):
        calls.append(getattr(fn, "probe_name", "kernel"))
        n = len(calls)
        per_round = len(calls_per_round)
        slow = per_round and (n - 1) // per_round == 1
        return (10.0 if slow else 1.0) * 1e-3

    steps = []

    def fake_step(family, seed, batch, optimizer):
        def step():
            pass
        step.probe_name = f"ref-{family}"
        steps.append(step)
        return step

    calls_per_round = [None] * (8 + len(probe_mod.REFERENCE_STEPS))
    monkeypatch.setattr(probe_mod, "last_level_cache_bytes", lambda: 1 << 20)  # a 1 MiB cache: 4 MiB copies
    monkeypatch.setattr(probe_mod, "DRAM_COPY_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(probe_mod, "_rate", fake_rate)
    monkeypatch.setattr(probe_mod, "reference_step", fake_step)
    pages = iter([(2e-10, 7e-11), (9e-10, 9e-10), (2.2e-10, 6e-11)])  # round 2's pages are slow too
    monkeypatch.setattr(probe_mod, "fresh_page_costs", lambda: next(pages))
    p = inspect.unwrap(probe_mod.run_probe)()  # the probe itself, not the test session's cache of it
    assert len(calls) == probe_mod.PROBE_ROUNDS * len(calls_per_round)
    # interleaved: each round times every kernel, then every reference step
    assert calls[8:11] == [f"ref-{f}" for f, *_ in probe_mod.REFERENCE_STEPS]
    # the slow round is out-voted: 1 ms per call everywhere
    assert p["gemm_flops_per_s"] == pytest.approx(2 * 512**3 / 1e-3)
    assert p["conv_flops_per_s"] == pytest.approx(3 * 2 * 8 * 32 * 32 * 32 * 32 * 9 / 1e-3)
    assert p["bandwidth_bytes_per_s"] == pytest.approx(2 * 8 * 1024 * 1024 * 4 / 1e-3)
    assert p["cache_bandwidth_bytes_per_s"] == pytest.approx(2 * 512 * 1024 * 4 / 1e-3)  # read and written
    assert p["last_level_cache_bytes"] == 1 << 20 and p["dram_copy_bytes"] == 4 << 20
    assert p["dram_bandwidth_bytes_per_s"] == pytest.approx(2 * (4 << 20) / 1e-3)
    assert [r["time_s"] for r in p["reference_steps"]] == pytest.approx([1e-3] * len(probe_mod.REFERENCE_STEPS))
    assert p["fresh_page_s_per_byte"] == 2.2e-10 and p["unmap_s_per_byte"] == 7e-11
    assert p["method"] == probe_mod.PROBE_METHOD and set(probe_mod.RATE_KEYS) <= set(p)


def test_fresh_page_costs_are_measured_per_byte():
    from green_estimate.allocator import settle
    from green_estimate.device_probe import fresh_page_costs

    settle()  # 64 MiB is past glibc's largest mmap threshold: fresh pages every time
    fault, unmap = fresh_page_costs(64 << 20, reps=3)
    # per byte: a 64 MiB tensor faults in and unmaps in well under 0.7 s on any machine (10 ns/B)
    assert 0.0 <= fault < 1e-8 and 0.0 < unmap < 1e-8


def test_fresh_page_coefficients_follow_the_probed_page_costs():
    import green_estimate.device_probe as probe_mod

    made = {**PROBE, "fresh_page_s_per_byte": 2e-10, "unmap_s_per_byte": 7e-11}
    here = {**PROBE, "fresh_page_s_per_byte": 1e-10, "unmap_s_per_byte": 1.4e-10}
    r = probe_mod.ratios(made, here)
    assert r["fresh"] == pytest.approx(0.5) and r["unmap"] == pytest.approx(2.0)
    assert probe_mod.feature_ratio("bytes_fresh", r, "elementwise") == pytest.approx(0.5)
    assert probe_mod.step_feature_ratio("fresh_bytes", r) == pytest.approx(2.0)
    # a probe that did not measure them (made before; or a machine whose faults came out free): bandwidth
    for old in (PROBE, {**PROBE, "fresh_page_s_per_byte": 0.0, "unmap_s_per_byte": 7e-11}):
        r = probe_mod.ratios(old, here)
        assert "fresh" not in r and probe_mod.feature_ratio("bytes_fresh", r, "elementwise") == r["bytes"]


def test_the_last_level_cache_is_summed_over_the_slices_the_cpus_use(tmp_path):
    from green_estimate.device_probe import last_level_cache_bytes

    def cache(cpu: int, index: str, level: str, size: str, shared: str) -> None:
        d = tmp_path / f"cpu{cpu}" / "cache" / index
        d.mkdir(parents=True)
        for name, text in (("level", level), ("size", size), ("shared_cpu_list", shared)):
            (d / name).write_text(text + "\n")

    # four CPUs, private L1 and L2, two L3 slices of 16 MiB (CPUs 0-1 and 2-3), as a server's CCDs
    for cpu in range(4):
        cache(cpu, "index0", "1", "48K", str(cpu))
        cache(cpu, "index2", "2", "2048K", str(cpu))
        cache(cpu, "index3", "3", "16384K", "0-1" if cpu < 2 else "2-3")
    assert last_level_cache_bytes(tmp_path, cpus=[0, 1, 2, 3]) == 32 << 20  # both slices
    assert last_level_cache_bytes(tmp_path, cpus=[0, 1]) == 16 << 20  # one slice, shared: counted once
    assert last_level_cache_bytes(tmp_path, cpus=[1, 3]) == 32 << 20
    # a CPU whose caches cannot be read is passed over; none readable: unknown
    (tmp_path / "cpu3" / "cache" / "index3" / "size").write_text("lots\n")
    assert last_level_cache_bytes(tmp_path, cpus=[3]) == 2 << 20  # its highest readable level is L2
    assert last_level_cache_bytes(tmp_path, cpus=[2, 3]) == 16 << 20  # L3 where any CPU has it
    assert last_level_cache_bytes(tmp_path / "none", cpus=[0]) is None


def test_the_memory_copy_is_four_caches_within_its_bounds():
    from green_estimate.device_probe import DRAM_COPY_MAX_BYTES, DRAM_COPY_MIN_BYTES, dram_copy_bytes

    assert dram_copy_bytes(32 << 20) == 4 * (32 << 20) == DRAM_COPY_MIN_BYTES
    assert dram_copy_bytes(100 << 20) == 400 << 20
    assert dram_copy_bytes(8 << 20) == DRAM_COPY_MIN_BYTES and dram_copy_bytes(1 << 30) == DRAM_COPY_MAX_BYTES
    assert dram_copy_bytes(None) == 256 << 20


def test_a_cpu_profile_counted_before_grus_were_counted_as_a_cpu_runs_them_asks_to_recalibrate_for_one():
    from green_estimate.counting import COUNT_REVISION

    def says(data: dict, step: CostReport) -> bool:
        pred = predict_report(step, plan=TrainingPlan(8, steps_given=1), profile=Profile.from_dict(data), probe=False)
        return any("calibrated before GRUs and plain RNNs were counted as a CPU runs them" in n for n in pred.notes)

    old = incontext_profile()  # records no count_revision: counted by revision 1
    new = {**old, "count_revision": COUNT_REVISION}
    no_rnn = CostReport("m", 8, "adam", 1000, [], [o for o in report().ops if o.fused != "rnn"], {}, param_tensors=4)
    gpu = {**old, "device": {**old["device"], "kind": "gpu", "name": "some GPU"}}
    assert COUNT_REVISION >= 2 and Profile.from_dict(old).count_revision == 1
    assert says(old, report())  # the step has a GRU's ops (fused "rnn")
    assert not says(new, report()) and not says(old, no_rnn) and not says(gpu, report())
