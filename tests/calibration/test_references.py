"""Reference architectures: standard models that calibration measures, never fits, and that scale the intervals."""
from __future__ import annotations

import json
import math
import textwrap

import pytest

from green_estimate.calibration.calibrator import calibrate
from green_estimate.calibration.incontext import count_network, make_step
from green_estimate.calibration.networks import build_network
from green_estimate.calibration.references import REFERENCES, build_reference, reference_name
from green_estimate.calibration.runner import RunSettings
from green_estimate.meters.fake import FakeMeter
from tests.calibration.test_runner import SUITE

FAST = RunSettings(warmup_s=0.0, window_s=0.002, repeats=2, max_step_flops=3e9)
# the runner's test suite, plus 6 cheap references (tabular, residual MLP, wide-and-deep, GRU, TextCNN, M5)
REF_SEEDS = (16, 17, 18, 13, 11, 19)
SUITE_WITH_REFERENCES = SUITE + textwrap.dedent(f"""
    [[group]]
    class = "network"
    kind = "network"
    full = {len(REF_SEEDS)}
    quick = {len(REF_SEEDS)}
    [group.grid]
    family = ["reference"]
    seed = {list(REF_SEEDS)}
    batch = [32]
    optimizer = ["adam"]
""")


def test_every_reference_counts_on_meta_within_the_quick_suites_step_and_is_named_once():
    names = [n for n, _ in REFERENCES]
    assert len(names) == 19 == len(set(names))
    for seed in range(1, len(REFERENCES) + 1):
        batch, ops, _, structure = count_network("reference", seed, 32, "adam", 3e9)
        assert batch == 32, reference_name(seed)  # none is halved: every machine measures it at batch 32
        assert 1e7 < sum(o.flops for o in ops) <= 3e9 and structure["param_tensors"] > 0
    with pytest.raises(KeyError, match="no reference architecture 20"):
        build_reference(20)


@pytest.mark.parametrize("seed", [16, 18, 15])  # tabular MLP, wide-and-deep (two inputs), causal LM
def test_a_reference_trains_on_the_cpu(seed):
    import torch

    net = build_network("reference", seed, "cpu")
    before = [p.detach().clone() for p in net.model.parameters()]
    make_step(net.model, net.inputs(4, "cpu"), "adam")()
    after = list(net.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))  # the step updated the weights


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refs")
    (folder / "suite.toml").write_text(SUITE_WITH_REFERENCES)
    res = calibrate(out=folder / "p.json", meter=FakeMeter(power_w=20.0), suite_path=folder / "suite.toml",
                    settings=FAST, folds=3, probe=False)
    return res, json.loads((folder / "p.json").read_text())


def test_references_are_measured_and_never_fitted(calibrated):
    res, prof = calibrated
    assert prof["sample_count"] == 11  # the 11 networks; the 6 references are not fitted
    iv = prof["step_model"]["interval"]
    assert iv["families"] == ["cnn", "mlp"] and iv["n"] == 11
    ref = iv["reference"]
    assert sorted(ref["names"]) == sorted(reference_name(s) for s in REF_SEEDS)
    assert res.networks_measured == res.networks_in_suite == 17
    from green_estimate.profile import Profile

    median = ref["median_ape"]["time_s"]
    errors = sorted(math.exp(e) - 1 for e in ref["time_s"])
    assert median == pytest.approx((errors[2] + errors[3]) / 2, rel=1e-4)  # the middle two of six (stored rounded)
    assert Profile.from_dict(prof).source == (f"calibrated in context (11 networks; 6 reference architectures, never "
                                              f"fitted: median error {median:.1%})")


def test_a_references_stored_error_is_its_price_by_predict_against_its_measured_step(calibrated):
    from green_estimate.counting.counter import count_step
    from green_estimate.pricing import price_step
    from green_estimate.profile import Profile

    res, prof = calibrated
    profile = Profile.from_dict(prof)
    ref = prof["step_model"]["interval"]["reference"]
    for name, predicted, measured, err in zip(ref["names"], ref["predicted_time_s"], ref["measured_time_s"],
                                              ref["time_s"]):
        seed = 1 + [n for n, _ in REFERENCES].index(name)
        net = build_network("reference", seed, "meta")
        report = count_step(net.model, net.inputs(32, "meta"), optimizer="adam", attention="math")
        priced = sum(c.time_s for c in price_step(report, profile).values())
        assert priced == pytest.approx(predicted, rel=1e-4), name
        assert err == pytest.approx(abs(math.log(predicted / measured)), abs=2e-5), name


def _priced_mlp_step(profile, iv: dict) -> tuple[dict, dict]:
    """A small MLP step priced by ``profile``: its classes and its make-up in the kinds of ``iv``'s local
    intervals (the step the interval tests widen)."""
    from green_estimate.counting.counter import count_step
    from green_estimate.intervals import make_up
    from green_estimate.pricing import price_step

    net = build_network("mlp", 3, "meta")
    classes = price_step(count_step(net.model, net.inputs(8, "meta"), optimizer="adam"), profile)
    ops = {k: c for k, c in classes.items() if c.ops}
    return classes, make_up({k: c.time_s for k, c in ops.items()}, sum(c.fused_time_s for c in ops.values()),
                            iv["local"]["kinds"])


def test_intervals_are_the_local_ones_times_the_conformal_scale(calibrated):
    from green_estimate.intervals import conformal_scale, local_halfwidth
    from green_estimate.pricing import interval_log_halfwidth
    from green_estimate.profile import Profile

    _, prof = calibrated
    profile = Profile.from_dict(prof)
    iv = prof["step_model"]["interval"]
    classes, at = _priced_mlp_step(profile, iv)
    for target in ("time_s", "energy_j"):
        scale = conformal_scale(iv["local"], iv["reference"], target, 0.9)
        assert scale is not None and scale > 0
        want = local_halfwidth(iv["local"], target, 0.9, at) * scale
        assert interval_log_halfwidth(profile, target, 0.9, classes) == pytest.approx(want)
    # the stored scale at 0.9 is the one pricing uses
    assert iv["reference"]["scale"]["time_s"]["0.9"] == pytest.approx(profile.step.reference_scale("time_s", 0.9))
    basis = profile.step.interval_basis(0.9)
    assert basis["reference"]["architectures"] == len(REF_SEEDS) and "split conformal" in basis["method"]


def test_predict_says_its_interval_is_scaled_and_by_how_much(calibrated, tmp_path):
    from typer.testing import CliRunner

    from green_estimate.cli.app import app
    from tests.jsonschemas import assert_valid

    res, prof = calibrated
    argv = ["predict", "green_estimate/examples/simple_cnn.py", "--profile", str(res.profile_path), "--steps", "10"]
    said = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert said.exit_code == 0, said.output
    scale = prof["step_model"]["interval"]["reference"]["scale"]["time_s"]["0.9"]
    assert (f"Scaled ×{scale:.2f} (time)" in said.output
            and f"by the errors of {len(REF_SEEDS)} standard architectures that calibration measured and never fitted"
            in said.output)
    doc = json.loads(CliRunner().invoke(app, [*argv, "--json"]).output)
    assert doc["interval"]["reference"]["scale"]["time_s"] == pytest.approx(scale)
    assert_valid(doc, "prediction@1")


@pytest.mark.parametrize("factor", [0.01, 100.0])
def test_on_a_cpu_the_profile_was_carried_to_the_references_widen_the_interval_and_never_narrow_it(calibrated, factor):
    import copy

    from green_estimate.intervals import local_halfwidth
    from green_estimate.pricing import interval_log_halfwidth
    from green_estimate.profile import Profile

    _, prof = calibrated
    data = copy.deepcopy(prof)
    ref = data["step_model"]["interval"]["reference"]
    for target in ("time_s", "energy_j"):  # the references' errors far below (or above) the local intervals'
        ref[target] = [e * factor for e in ref[target]]
    home = Profile.from_dict(data)
    carried = home.replaced(transfer={"log_error": 0.05})
    iv = data["step_model"]["interval"]
    classes, at = _priced_mlp_step(home, iv)
    for target in ("time_s", "energy_j"):
        scale = home.step.reference_scale(target, 0.9)
        assert (scale < 1) if factor < 1 else (scale > 1)
        local = local_halfwidth(iv["local"], target, 0.9, at)
        assert interval_log_halfwidth(home, target, 0.9, classes) == pytest.approx(local * scale)
        assert interval_log_halfwidth(carried, target, 0.9, classes) == pytest.approx(local * max(scale, 1.0) + 0.05)
    basis = carried.step.interval_basis(0.9, carried=True)["reference"]
    assert basis["home_scale"]["time_s"] == pytest.approx(home.step.reference_scale("time_s", 0.9))
    assert basis["scale"]["time_s"] == pytest.approx(max(basis["home_scale"]["time_s"], 1.0))
    assert "home_scale" not in home.step.interval_basis(0.9)["reference"]


def test_predict_says_when_the_references_were_measured_on_another_cpu():
    from green_estimate.cli.predict import _reference_line

    ref = {"architectures": 19, "scale": {"time_s": 1.0, "energy_j": 1.2}, "median_ape": {"time_s": 0.1},
           "home_scale": {"time_s": 0.55, "energy_j": 1.2}}
    line = _reference_line(ref)
    assert line.startswith("Scaled ×1.00 (time), ×1.20 (energy) by the errors of 19 standard architectures")
    assert "on the CPU that made the profile they scaled it ×0.55 and ×1.20" in line
    assert "they were measured" not in _reference_line({**ref, "home_scale": ref["scale"]})


def test_a_calibrated_profile_records_the_counter_revision_its_samples_were_counted_by(calibrated):
    from green_estimate.counting import COUNT_REVISION
    from green_estimate.profile import Profile

    _, prof = calibrated
    assert prof["count_revision"] == COUNT_REVISION == Profile.from_dict(prof).count_revision
