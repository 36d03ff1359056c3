"""predict: plan arithmetic, pricing, correlated intervals, the JSON contract."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch.nn as nn
from typer.testing import CliRunner

from green_estimate.cli.app import app
from green_estimate.counting.counter import count_step
from green_estimate.errors import ProfileError, UsageError
from green_estimate.fingerprint import cpu_fingerprint
from green_estimate.predict import predict, predict_report
from green_estimate.pricing import lognormal_interval
from green_estimate.profile import Profile
from green_estimate.profile_store import write_profile
from green_estimate.training_plan import TrainingPlan

EXAMPLE = str(Path(__file__).resolve().parents[1] / "green_estimate" / "examples" / "simple_cnn.py")
Z90 = 1.6448536269514722  # standard normal quantile at 0.95


def model(features, params, cov=None, resid=0.0):
    n = len(features)
    return {"form": "linear", "features": features, "params": params,
            "cov": cov or [[0.0] * n for _ in range(n)], "resid_rel_sd": resid, "df_resid": 100}


def profile_dict(classes, name="test-profile", fingerprint=None):
    return {"schema": "green-estimate/profile@1", "name": name, "device": {"kind": "cpu", "name": "test cpu",
            "fingerprint": fingerprint or {}}, "meter": {"name": "fake"}, "provenance": "estimated",
            "time_provenance": "measured", "default_class": "elementwise", "classes": classes}


def per_flop_profile(j_per_flop=1e-9, s_per_flop=1e-10, resid=0.0):
    entry = {"time_s": model(["flops"], [s_per_flop], resid=resid), "energy_j": model(["flops"], [j_per_flop], resid=resid)}
    return Profile.from_dict(profile_dict({"elementwise": entry}))


def test_plan_steps():
    assert TrainingPlan(512, 25, 60000).steps == math.ceil(60000 / 512) * 25 == 2950
    assert TrainingPlan(64, 1, 64).steps == 1
    assert TrainingPlan(64, 3, 65).steps == 6  # the last partial batch is a step
    assert TrainingPlan(64, 7, 1000, steps_given=5).steps == 5
    with pytest.raises(UsageError):
        TrainingPlan(0)


def test_energy_is_priced_op_by_op_and_totals_multiply(tmp_path):
    pred = predict(EXAMPLE, batch_size=512, epochs=25, samples=60000, profile=per_flop_profile())
    d = pred.to_dict()
    flops = pred.report.totals().flops
    assert d["per_step"]["energy_j"] == pytest.approx(1e-9 * flops)
    assert d["per_step"]["time_s"] == pytest.approx(1e-10 * flops)
    assert d["plan"] == {"batch_size": 512, "epochs": 25, "samples": 60000, "steps": 2950, "grad_accum": 1, "gpus": 1,
                         "samples_per_step": 512}
    assert d["total"]["energy_j"] == pytest.approx(d["per_step"]["energy_j"] * 2950)
    assert d["total"]["energy_kwh"] == pytest.approx(d["total"]["energy_j"] / 3.6e6)
    assert sum(c["share"] for c in d["by_class"].values()) == pytest.approx(1.0)
    # every class is priced as the default class, and the output says so
    assert d["by_class"]["conv"]["priced_as"] == "elementwise"
    assert any("priced as elementwise" in n for n in d["notes"])


def test_coefficient_errors_add_linearly_within_a_class():
    # one op costs 1 mJ ± 0.1 mJ (coefficient sd); 10 ops share the coefficient: sd 1 mJ on 10 mJ
    ops_model = nn.Sequential(*[nn.ReLU() for _ in range(10)])
    import torch

    report = count_step(ops_model.to("meta"), (torch.empty(4, 3, device="meta"),), optimizer="none")
    n_relu = sum(1 for o in report.ops if o.cls == "relu")
    entry = {"time_s": model(["const"], [1e-3], [[1e-8]]), "energy_j": model(["const"], [1e-3], [[1e-8]])}
    zero = {"time_s": model(["const"], [0.0]), "energy_j": model(["const"], [0.0])}
    prof = Profile.from_dict(profile_dict({"relu": entry, "elementwise": zero}))
    pred = predict_report(report, plan=TrainingPlan(4, steps_given=1), profile=prof)
    mean = 1e-3 * n_relu
    assert pred.energy_j == pytest.approx(mean)
    r = (1e-4 * n_relu) / mean  # correlated: n·sd, not √n·sd
    s = math.sqrt(math.log1p(r * r))
    lo, hi = pred.energy_interval()
    assert lo == pytest.approx(mean * math.exp(-Z90 * s))
    assert hi == pytest.approx(mean * math.exp(Z90 * s))


def test_residual_spread_widens_interval_and_run_interval_scales():
    d = predict(EXAMPLE, batch_size=8, steps=100, profile=per_flop_profile(resid=0.2)).to_dict()
    e = d["per_step"]["energy_j"]
    lo, hi = d["per_step"]["energy_j_interval"]
    assert lo < e < hi
    # residuals are systematic within a class (0.2 × class energy) and independent between classes
    sd = math.sqrt(sum((0.2 * c["energy_j_per_step"]) ** 2 for c in d["by_class"].values()))
    s = math.sqrt(math.log1p((sd / e) ** 2))
    assert hi == pytest.approx(e * math.exp(Z90 * s))
    assert d["total"]["energy_j_interval"] == pytest.approx([lo * 100, hi * 100])
    narrower = predict(EXAMPLE, batch_size=8, steps=100, confidence=0.5, profile=per_flop_profile(resid=0.2)).to_dict()
    assert narrower["per_step"]["energy_j_interval"][1] < hi


def test_lognormal_interval_brackets_and_is_positive():
    lo, hi = lognormal_interval(1.0, 4.0, 0.9)  # 200% relative sd
    assert 0 < lo < 1.0 < hi


def test_co2e_from_intensity():
    d = predict(EXAMPLE, batch_size=8, steps=10, profile=per_flop_profile(), grid_intensity=400.0).to_dict()
    assert d["total"]["co2e_g"] == pytest.approx(d["total"]["energy_kwh"] * 400.0)
    assert predict(EXAMPLE, batch_size=8, steps=10, profile=per_flop_profile()).to_dict()["total"]["co2e_g"] is None


def test_default_profile_is_the_local_calibrated_one():
    from green_estimate.profile_store import profiles_dir

    fp = cpu_fingerprint()
    entry = {"time_s": model(["flops"], [2e-10]), "energy_j": model(["flops"], [3e-9])}
    write_profile(profile_dict({"elementwise": entry}, name="mine", fingerprint=fp), profiles_dir() / "mine.json")
    d = predict(EXAMPLE, batch_size=8, steps=1).to_dict()
    assert d["profile"]["name"] == "mine" and d["profile"]["origin"] == "local"


def test_bad_profile_and_confidence():
    with pytest.raises(ProfileError, match="no profile named 'nope'"):
        predict(EXAMPLE, profile="nope")
    with pytest.raises(UsageError, match="confidence"):
        predict(EXAMPLE, profile=per_flop_profile(), confidence=1.5)


def test_cli_predict_json_and_compare(tmp_path):
    path = tmp_path / "p.json"
    entry = {"time_s": model(["flops"], [1e-10], resid=0.1), "energy_j": model(["flops"], [1e-9], resid=0.1)}
    write_profile(profile_dict({"elementwise": entry}), path)
    runner = CliRunner()
    res = runner.invoke(app, ["predict", EXAMPLE, "--profile", str(path), "--samples", "1000", "--epochs", "2",
                              "--batch-size", "100", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["schema"] == "green-estimate/prediction@1" and d["plan"]["steps"] == 20
    for key in ("profile", "plan", "confidence", "per_step", "total", "by_class"):
        assert key in d
    assert d["profile"]["provenance"] == "estimated"
    res2 = runner.invoke(app, ["predict", EXAMPLE, f"{EXAMPLE}:build_small", "--profile", str(path)])
    assert res2.exit_code == 0, res2.output
    assert "Side by side" in res2.stdout
    md = runner.invoke(app, ["predict", EXAMPLE, "--profile", str(path), "--markdown"])
    assert md.stdout.startswith("### Training energy")


def test_default_profile_without_gpu_is_the_shipped_cpu_reference():
    from green_estimate.profile_store import default_profile

    prof = default_profile("cpu")
    assert prof.origin == "shipped" and prof.data["device"]["kind"] == "cpu"
    assert prof.provenance == "estimated" and prof.data["time_provenance"] == "measured"
    assert default_profile(None).name == prof.name  # no visible GPU here


def test_cli_predict_without_profile_uses_shipped_profile():
    res = CliRunner().invoke(app, ["predict", EXAMPLE, "--samples", "60000", "--epochs", "25", "--batch-size", "512",
                                   "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["profile"]["origin"] == "shipped" and d["profile"]["provenance"] == "estimated"
    assert d["plan"]["steps"] == 2950
    assert d["total"]["energy_j"] == pytest.approx(d["per_step"]["energy_j"] * 2950)
    assert d["total"]["energy_kwh"] == pytest.approx(d["total"]["energy_j"] / 3.6e6)
    lo, hi = d["total"]["energy_j_interval"]
    assert lo < d["total"]["energy_j"] < hi
    assert sum(c["share"] for c in d["by_class"].values()) == pytest.approx(1.0)
    assert {"conv", "linear", "relu", "overhead"} <= set(d["by_class"])


def test_by_class_always_has_conv_linear_relu(tmp_path):
    mlp = tmp_path / "mlp.py"
    mlp.write_text("import torch.nn as nn\nINPUT_SHAPE = (4,)\ndef build_model():\n    return nn.Linear(4, 2)\n")
    d = predict(str(mlp), batch_size=2, steps=1, profile=per_flop_profile()).to_dict()
    assert d["by_class"]["conv"]["energy_j_per_step"] == 0.0 and d["by_class"]["relu"]["share"] == 0.0
    from green_estimate.counting.counter import count_model

    c = count_model(str(mlp), batch_size=2).to_dict()
    assert c["by_class"]["conv"] == {"flops": 0, "bytes": 0, "ops": 0, "by_phase": {
        p: {"flops": 0, "bytes": 0, "ops": 0} for p in ("forward", "backward", "optimizer")}}


def test_profile_identity_says_whether_the_profile_was_measured_here(monkeypatch):
    from green_estimate.fingerprint import cpu_fingerprint
    from green_estimate.profile import Profile
    from green_estimate.profile_store import profile_identity, shipped_profiles

    shipped = shipped_profiles()[0]
    here = json_copy(shipped.data)
    import green_estimate.profile_store as store

    mine = {**cpu_fingerprint(), "cpu_id": "25/17/1", "isa": "AVX512"}  # as a Linux x86 machine knows itself
    monkeypatch.setattr(store, "cpu_fingerprint", lambda: mine)
    here["device"] = {**here["device"], "kind": "cpu", "fingerprint": mine}
    there = json_copy(here)
    there["device"]["fingerprint"]["cpu_model"] = "Some Other CPU 9000"
    there["device"]["name"] = "Some Other CPU 9000"
    assert profile_identity(Profile.from_dict(here, origin="local"), "cpu")["other_device"] is False
    other = profile_identity(Profile.from_dict(there, origin="local"), "cpu")
    assert other["other_device"] is True and "another device (Some Other CPU 9000 (" in other["note"]
    # a CPU of this one's name but another identity (cloud VMs name Zen 2, 3 and 4 all "AMD EPYC"): named apart
    twin = json_copy(here)
    twin["device"]["fingerprint"] = {**mine, "cpu_id": "1/2/3", "isa": "AVX2"}
    other = profile_identity(Profile.from_dict(twin, origin="local"), "cpu")
    assert other["other_device"] is True
    assert f"another device ({mine['cpu_model']} ({mine['threads']} threads, cpu 1/2/3, AVX2))" in other["note"]


def json_copy(d):
    import json

    return json.loads(json.dumps(d))


def test_a_calibrated_cpu_profile_says_its_times_are_of_a_settled_allocator():
    from green_estimate.predict import ALLOCATOR_NOTE

    assert ALLOCATOR_NOTE in predict(EXAMPLE, batch_size=64, profile="cpu-reference-2core").to_dict()["notes"]
    # a CPU profile without an in-context step model (not made by calibrate) and a GPU profile: no such note
    assert ALLOCATOR_NOTE not in predict(EXAMPLE, batch_size=64, profile=per_flop_profile()).to_dict()["notes"]
    gpu = predict(EXAMPLE, batch_size=64, profile="gtx-1080-yarally-cain2023")
    assert ALLOCATOR_NOTE not in gpu.to_dict()["notes"]


def test_on_an_h200_without_a_local_profile_the_default_is_the_shipped_measured_one(monkeypatch):
    import green_estimate.profile_store as store
    from green_estimate.profile_store import default_profile

    monkeypatch.setattr(store, "_gpu_name", lambda device: "NVIDIA H200")
    prof = default_profile("cuda:0")
    assert prof.origin == "shipped" and prof.is_gpu and prof.provenance == "measured"
    assert prof.device["fingerprint"]["gpu_name"] == "NVIDIA H200" and prof.precision == "fp32"
    assert default_profile(None).name == prof.name  # predict without --profile on a machine with an H200
    # it prices fp32 only: a bf16 step on the same GPU keeps the datasheet, as does another GPU
    assert default_profile("cuda:0", precision="bf16").origin == "datasheet"
    monkeypatch.setattr(store, "_gpu_name", lambda device: "NVIDIA A100-SXM4-80GB")
    assert default_profile("cuda:0").origin == "datasheet"


def test_a_step_mostly_of_fresh_pages_says_how_sure_their_cost_is(tmp_path):
    from green_estimate.counting.report import CostReport, OpRecord
    from green_estimate.predict import FRESH_NOTE_SHARE, fresh_page_note

    mib = 2**20
    pages = {"fault_s_per_byte": 2e-10, "unmap_s_per_byte": 7e-11}
    new = OpRecord("aten.sqrt", "elementwise", "optimizer", "", 16 * mib, 64 * mib, 64 * mib)
    report = CostReport("fresh", 8, "adam", 0, [], [new], {})
    cost_s = 64 * mib * 2.7e-10  # 18.1 ms: the one new 64 MiB tensor, faulted in and unmapped
    note = fresh_page_note(report, 0.05, pages)
    assert note and "67 MB" in note and f"{cost_s / 0.05:.0%}" in note and "0.20 ns/byte" in note
    assert fresh_page_note(report, cost_s / FRESH_NOTE_SHARE * 1.01, pages) is None  # under a fifth of the step
    assert fresh_page_note(report, 0.05, None) is None  # a profile that fitted the cost instead
    # carried to a CPU whose probe faults pages 1.5x slower and unmaps them 2x faster: 64 MiB at 3e-10 + 3.5e-11
    carried = fresh_page_note(report, 0.05, pages, {"fresh": 1.5, "unmap": 0.5, "bytes": 9.0, "python": 9.0,
                                                    "dispatch": 9.0})
    assert carried and f"{64 * mib * 3.35e-10 / 0.05:.0%}" in carried and "0.30 ns/byte" in carried
    assert "0.04 to unmap" in carried and "rescaled to this CPU" in carried and "rescaled" not in note
    in_place = OpRecord("aten.add_", "elementwise", "optimizer", "", 16 * mib, 128 * mib, 64 * mib)
    assert fresh_page_note(CostReport("in place", 8, "adam", 0, [], [in_place], {}), 0.05, pages) is None
    # predict adds it for a model whose step is mostly such tensors, with the shipped profile's costs
    big = tmp_path / "skipgram.py"
    big.write_text("import torch, torch.nn as nn\n"
                   "class M(nn.Module):\n"
                   "    def __init__(s):\n        super().__init__(); s.e = nn.Embedding(150000, 100)\n"
                   "    def forward(s, x):\n        return s.e(x).sum(1)\n"
                   "def build_model():\n    return M()\n"
                   "def example_input(batch):\n    return torch.randint(0, 150000, (batch, 4))\n")
    notes = predict(str(big), batch_size=64, profile="cpu-reference-2core").to_dict()["notes"]
    assert any("take fresh pages" in n for n in notes)
    assert not any("take fresh pages" in n for n in predict(EXAMPLE, batch_size=64,
                                                            profile="cpu-reference-2core").to_dict()["notes"])
