"""Running the suite: samples appended as measured, interruption and --resume lose nothing."""
from __future__ import annotations

import json
import textwrap

import pytest

from green_estimate.calibration.calibrator import calibrate
from green_estimate.calibration.cases import load_suite
from green_estimate.calibration.runner import RunSettings, read_samples, run_suite
from green_estimate.errors import GreenEstimateError
from green_estimate.meters.fake import FakeMeter

SUITE = textwrap.dedent("""
    [settings]
    seed = 1
    [[group]]
    class = "relu"
    kind = "relu"
    full = 4
    quick = 4
    [group.grid]
    numel = [64, 256, 1024, 4096]
    [[group]]
    class = "linear"
    kind = "linear"
    full = 5
    quick = 5
    [group.grid]
    batch = [2, 4]
    fin = [8, 16, 32]
    fout = [4, 8]
    input_grad = [true]
    [[group]]
    class = "conv"
    kind = "conv2d"
    full = 4
    quick = 4
    [group.grid]
    batch = [1, 2]
    cin = [1, 2]
    cout = [2]
    hw = [4]
    kernel = [3]
    stride = [1]
    depthwise = [false]
    input_grad = [true]
""")
FAST = RunSettings(warmup_s=0.0, window_s=0.002, repeats=2)


@pytest.fixture
def suite_file(tmp_path):
    p = tmp_path / "suite.toml"
    p.write_text(SUITE)
    return p


def test_suite_draws_are_seeded_and_sized(suite_file):
    a, b = load_suite(suite_file), load_suite(suite_file)
    assert [c.id for c in a.cases] == [c.id for c in b.cases]
    assert len(a.cases) == 4 + 5 + 4


def test_samples_carry_counter_features_and_fake_energy(suite_file, tmp_path):
    cases = load_suite(suite_file).cases[:2]
    meter = FakeMeter(power_w=50.0)
    samples = run_suite(cases, meter, tmp_path / "s.jsonl", {"device_name": "cpu", "meter": "fake"}, settings=FAST)
    relu = samples[0]
    assert relu["cls"] == "relu"
    numel = relu["params"]["numel"]
    # forward relu + threshold_backward, 1 FLOP per element each
    assert [o["op"] for o in relu["ops"]] == ["aten.relu", "aten.threshold_backward"]
    assert sum(o["flops"] for o in relu["ops"]) == 2 * numel
    # energy of the fake meter = 50 W × time, window by window
    for t, e in zip(relu["time_s_repeats"], relu["energy_j_repeats"]):
        assert e == pytest.approx(50.0 * t, rel=1e-6)


def test_interrupted_run_resumes_without_losing_a_sample(suite_file, tmp_path):
    cases = load_suite(suite_file).cases
    path = tmp_path / "s.jsonl"
    header = {"device_name": "cpu", "meter": "fake"}

    def stop_after_3(done, total, case):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(cases, FakeMeter(), path, header, settings=FAST, on_progress=stop_after_3)
    h, first = read_samples(path)
    assert h["meter"] == "fake" and len(first) == 3
    # a crash mid-write leaves a torn last line (here even newline-terminated): dropped, not fatal
    with open(path, "a") as fh:
        fh.write('{"type": "sample", "case": "tor\n')
    with pytest.raises(GreenEstimateError, match="--resume"):
        run_suite(cases, FakeMeter(), path, header, settings=FAST)
    all_samples = run_suite(cases, FakeMeter(), path, header, settings=FAST, resume=True)
    assert len(all_samples) == len(cases)
    _, reread = read_samples(path)
    assert [s["case"] for s in reread] == [c.id for c in cases]
    assert reread[:3] == first  # the first three were kept, not re-measured
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_resume_refuses_another_meter(suite_file, tmp_path):
    cases = load_suite(suite_file).cases[:1]
    path = tmp_path / "s.jsonl"
    run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "fake"}, settings=FAST)
    with pytest.raises(GreenEstimateError, match="measured with meter 'fake'"):
        run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "rapl"}, settings=FAST, resume=True)


def test_calibrate_writes_a_profile_with_conv_linear_relu(suite_file, tmp_path):
    out = tmp_path / "p.json"
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3)
    prof = json.loads(out.read_text())
    assert prof["schema"] == "green-estimate/profile@1"
    assert {"conv", "linear", "relu"} <= set(prof["classes"])
    assert prof["provenance"] == "estimated" and prof["time_provenance"] == "measured"
    assert prof["meter"]["name"] == "fake" and prof["sample_count"] == 13
    for key in ("device", "torch_version", "dtype", "idle_power_w", "created_utc", "default_class"):
        assert key in prof
    for entry in prof["classes"].values():
        assert set(entry["cv"]["time_s"]) == {"median_ape", "within_10pct", "folds"}
    assert res.samples_path.exists() and res.samples_path.name == "p.samples.jsonl"
