"""`calibrate --cpu --precision bf16`: steps run under CPU autocast, counted the same way, a bf16 profile."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_estimate.calibration.calibrator import calibrate
from green_estimate.calibration.incontext import OP_FIELDS, measure_network
from green_estimate.calibration.runner import RunSettings
from green_estimate.errors import UsageError
from green_estimate.meters.fake import FakeMeter

from tests.calibration.test_runner import SUITE

FAST = RunSettings(warmup_s=0.0, window_s=0.002, repeats=2, max_step_flops=2e7)


def test_a_bf16_step_matches_every_counted_op_to_a_real_cpu_autocast_event():
    rec = measure_network({"family": "mlp", "seed": 1, "batch": 8, "optimizer": "adam"}, FakeMeter(power_w=10.0), "cpu",
                          warmup_s=0.0, window_s=0.002, repeats=1, precision="bf16")
    ops = [dict(zip(OP_FIELDS, row)) for row in rec["ops"]]
    assert rec["unmatched_ops"] == 0  # the emulated autocast counted exactly the ops CPU autocast ran
    gemms = [o for o in ops if o["cls"] == "linear" and o["phase"] == "forward"]
    assert gemms and all(o["time_s"] is not None for o in ops)
    assert any(o["op"] == "aten._to_copy" for o in ops)  # autocast's casts are counted and timed


def test_calibrate_cpu_bf16_writes_a_bf16_profile_that_prices_bf16_only(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE)
    out = tmp_path / "bf16.json"
    calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite, settings=FAST, folds=3, probe=False,
              precision="bf16")
    prof = json.loads(out.read_text())
    assert prof["precision"] == "bf16" and prof["dtype"] == "bfloat16"
    header = json.loads(Path(str(out).replace(".json", ".samples.jsonl")).read_text().splitlines()[0])
    assert header["precision"] == "bf16" and header["dtype"] == "bfloat16"
    from green_estimate.predict import predict

    mlp = str(Path(__file__).resolve().parents[1] / "corpus" / "study_dense_poly_lazy.py")
    p = predict(mlp, batch_size=8, profile=str(out), precision="bf16").to_dict()
    assert p["precision"] == "bf16" and p["per_step"]["time_s"] > 0
    with pytest.raises(UsageError, match="prices bf16 training, not --precision fp32"):
        predict(mlp, batch_size=8, profile=str(out), precision="fp32")
    with pytest.raises(UsageError, match="tf32 is a GPU tensor-core mode"):
        calibrate(out=tmp_path / "x.json", meter=FakeMeter(power_w=20.0), suite_path=suite, settings=FAST,
                  precision="tf32")
