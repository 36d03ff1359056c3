"""A GPT-2-small-sized transformers model in bf16 and fp32 on datasheet:h100-sxm (issue 14's done-when).

The expected numbers are written from the H100 SXM figures of the GPU table and the class
assumptions documented in docs/datasheet.md, not read from the profile the code builds.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from green_estimate.counting.attention import causal_pairs
from green_estimate.counting.counter import count_workload
from green_estimate.datasheet import load_gpus
from green_estimate.errors import UsageError
from green_estimate.loading import Workload
from green_estimate.predict import predict, predict_report
from green_estimate.profile_store import resolve_profile
from green_estimate.training_plan import TrainingPlan

B, T = 2, 256
LAYERS, HEADS, D_MODEL = 12, 12, 768  # GPT-2 small (124 M parameters)
LAUNCH_S = 5e-6
# docs/datasheet.md: fraction of the FP32 / tensor peak and of bandwidth per class
LINEAR_FP32, LINEAR_TENSOR, ATTENTION_FP32, ATTENTION_TENSOR, GEMM_BYTES = 0.65, 0.55, 0.45, 0.35, 0.60


def gpt2_small():
    from transformers import GPT2Config, GPT2LMHeadModel

    ids = lambda n: {"input_ids": torch.zeros(n, T, dtype=torch.long), "labels": torch.zeros(n, T, dtype=torch.long)}  # noqa: E731
    return Workload(name="gpt2-small", build=lambda: GPT2LMHeadModel(GPT2Config()), example_input=ids)


@pytest.fixture(scope="module")
def counted():
    return {p: count_workload(gpt2_small(), batch_size=B, precision=p, target="cuda") for p in ("fp32", "bf16")}


def test_attention_is_its_own_class_and_its_flops_are_the_analytic_count(counted):
    r = counted["bf16"]
    assert r.parameters == 124_439_808
    assert r.attention_backends == {"flash": LAYERS}  # GPT-2 passes is_causal and no mask: flash in bf16
    att = r.by_class()["attention"]
    d = D_MODEL // HEADS
    pairs = causal_pairs(T, T)  # 32,896 of 65,536: the kernel skips the blocks above the diagonal
    forward = 2 * B * HEADS * pairs * (d + d)  # Q·Kᵀ and P·V
    backward = 2 * B * HEADS * pairs * (3 * d + 2 * d)  # recomputed Q·Kᵀ, dP, dV, dQ, dK
    assert att.flops == LAYERS * (forward + backward)
    assert att.ops == 2 * LAYERS
    # no (T × T) score matrix: the fused ops move Q, K, V, O, dO, dQ, dK, dV and the log-sum-exp only
    assert att.bytes < LAYERS * 20 * B * T * D_MODEL * 2
    assert not [o for o in r.ops if o.op in ("aten.bmm", "aten.baddbmm") and o.fused == "attention"]
    # fp32 runs the memory-efficient kernel: same FLOPs, twice the bytes of its tensors
    assert counted["fp32"].attention_backends == {"efficient": LAYERS}
    assert counted["fp32"].by_class()["attention"].flops == att.flops


def _expected_time_s(report, cls: str, flops_per_s: float) -> float:
    h100 = load_gpus()["h100-sxm"]
    ops = [o for o in report.ops if o.cls == cls]
    bandwidth = h100.memory_bandwidth_gb_s * 1e9 * GEMM_BYTES
    return sum(LAUNCH_S + o.flops / flops_per_s + o.nbytes / bandwidth for o in ops)


def test_fp32_and_bf16_predictions_differ_as_the_datasheet_rates_say(counted):
    h100 = load_gpus()["h100-sxm"]
    assert (h100.fp32_tflops, h100.bf16_tensor_tflops) == (67.0, 989.5)
    plan = TrainingPlan(batch_size=B, steps_given=10)
    got = {}
    for p, r in counted.items():
        prof = resolve_profile("datasheet:h100-sxm", precision=p)
        got[p] = predict_report(r, plan=plan, profile=prof)
    assert got["bf16"].profile.name == "datasheet:h100-sxm:bfloat16" and got["fp32"].profile.name == "datasheet:h100-sxm"
    fp32_rates = {"linear": 67e12 * LINEAR_FP32, "attention": 67e12 * ATTENTION_FP32}
    bf16_rates = {"linear": 989.5e12 * LINEAR_TENSOR, "attention": 989.5e12 * ATTENTION_TENSOR}
    for p, rates in (("fp32", fp32_rates), ("bf16", bf16_rates)):
        for cls, rate in rates.items():
            assert got[p].classes[cls].time_s == pytest.approx(_expected_time_s(counted[p], cls, rate), rel=1e-9)
    # the GEMMs' FLOP term: 989.5·0.55 / (67·0.65) = 12.5× faster on bf16 tensor cores
    f = counted["fp32"].by_class()["linear"].flops
    assert counted["bf16"].by_class()["linear"].flops == f  # same arithmetic, other dtype
    assert (f / fp32_rates["linear"]) / (f / bf16_rates["linear"]) == pytest.approx(989.5 * 0.55 / (67 * 0.65))
    # bytes follow the dtype: the GEMMs move half as much
    assert counted["bf16"].by_class()["linear"].bytes < 0.55 * counted["fp32"].by_class()["linear"].bytes
    assert got["bf16"].classes["linear"].time_s < got["fp32"].classes["linear"].time_s / 4
    # the whole step gains less: Adam's float32 update and autocast's casts are memory-bound
    assert got["bf16"].time_s < got["fp32"].time_s and got["bf16"].energy_j < got["fp32"].energy_j
    assert got["bf16"].classes["copy"].time_s > got["fp32"].classes["copy"].time_s  # the casts
    assert got["bf16"].to_dict()["precision"] == "bf16" and "attention" in got["bf16"].to_dict()["by_class"]


def test_a_profile_of_another_precision_is_refused_and_a_plain_datasheet_name_follows_the_precision():
    model = str(Path(__file__).parent / "corpus" / "hf_gpt2_tiny.py")
    with pytest.raises(UsageError, match="prices bf16 training, not --precision fp32"):
        predict(model, batch_size=2, profile="datasheet:h100-sxm:bfloat16", precision="fp32")
    with pytest.raises(UsageError, match=r"calibrate --cpu --precision bf16"):
        predict(model, batch_size=2, profile="cpu-reference-2core", precision="bf16")
    p = predict(model, batch_size=2, profile="datasheet:a100-sxm4-80gb", precision="tf32").to_dict()
    assert p["profile"]["name"] == "datasheet:a100-sxm4-80gb:tf32" and p["profile"]["precision"] == "tf32"


def test_cli_predict_and_count_take_the_precision():
    from typer.testing import CliRunner

    from green_estimate.cli.app import app

    model = str(Path(__file__).parent / "corpus" / "hf_gpt2_tiny.py")
    runner = CliRunner()
    res = runner.invoke(app, ["predict", model, "-b", "2", "--precision", "bf16", "--profile", "datasheet:h200-sxm",
                              "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["precision"] == "bf16" and d["profile"]["name"] == "datasheet:h200-sxm:bfloat16"
    assert d["by_class"]["attention"]["flops"] > 0
    res = runner.invoke(app, ["count", model, "-b", "2", "--precision", "fp16", "--json"])
    assert res.exit_code == 0, res.output
    c = json.loads(res.stdout)
    assert c["precision"] == "fp16" and c["target"] == "cuda" and c["attention_backends"] == {"flash": 2}
    assert c["by_dtype"]["float16"]["flops"] > c["by_dtype"]["float32"]["flops"]
    cpu = json.loads(runner.invoke(app, ["count", model, "-b", "2", "--target", "cpu", "--json"]).stdout)
    assert "attention" not in cpu["by_class"] and cpu["target"] == "cpu"
