"""``calibrate --from-runs``: a ridge/MAP update of a prior profile by measured whole runs."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from green_estimate.calibration.from_runs import calibrate_from_runs, configurations, prior_from_profile
from green_estimate.profile_store import resolve_profile
from green_estimate.runs.model import step_cost
from green_estimate.runs.runsfile import read_runs

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "calibration" / "runs"
SHIPPED = ROOT / "green_estimate" / "data" / "profiles" / "gtx-1080-yarally-cain2023.json"
CONFIGS = [("SimpleCNN", 1, 28), ("SimpleCNN", 3, 32), ("DensePolyNN", 1, 28), ("DensePolyNN", 3, 32),
           ("DenseLinearNN", 1, 28), ("DenseLinearNN", 3, 32)]
TRUE = {"scale_conv": 1.8, "scale_linear": 0.8, "scale_other": 1.3, "step_s": 1e-3, "dispatch_s": 5e-6,
        "spatial_op_s": 1.5e-4, "input_s_per_byte": 1e-10, "idle_w": 9.0, "active_scale": 1.1, "wait_w": 40.0}


def _synthetic(tmp_path: Path, configs=CONFIGS, params=TRUE, repeats=3, noise=0.0, time=False) -> Path:
    """Runs whose energies are the runs model's at ``params`` (× a deterministic ± noise per repeat)."""
    prior = resolve_profile("datasheet:gtx-1080")
    base, pri = prior_from_profile(prior)
    rows = []
    for fam, c, h in configs:
        rows.append({"model": "yarally_cain2023_models.py", "model_args": json.dumps({"family": fam, "C": c, "H": h}),
                     "input_shape": f"{c},{h},{h}", "batch_size": 256, "steps": 100, "device": "NVIDIA GeForce GTX 1080",
                     "energy_j": 1.0})
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "runs.csv"
    (tmp_path / "yarally_cain2023_models.py").write_text((RUNS / "yarally_cain2023_models.py").read_text())
    _write(path, rows)
    confs = configurations(read_runs(path), base, pri.idle0_w)
    out = []
    for row, conf in zip(rows, confs):
        e, t, _ = step_cost(conf.basis, params)
        for k in range(repeats):
            f = 1 + noise * (k - (repeats - 1) / 2)
            out.append({**row, "energy_j": e * 100 * f, **({"time_s": t * 100 * f} if time else {})})
    _write(path, out)
    return path


def _write(path: Path, rows: list[dict]) -> None:
    cols = sorted({k for r in rows for k in r})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _errors(result) -> tuple[list[float], list[float]]:
    loco = result.profile["runs_model"]["loco"]
    return [r["energy_j"]["prior_log_err"] for r in loco], [r["energy_j"]["left_out_log_err"] for r in loco]


def test_runs_from_known_parameters_are_fitted_and_left_out_ones_predicted(tmp_path):
    result = calibrate_from_runs(_synthetic(tmp_path), prior="datasheet:gtx-1080", write=False)
    prior_err, loco_err = _errors(result)
    # the prior misses these runs by tens of percent; the fit predicts each left-out configuration far better
    assert max(abs(e) for e in prior_err) > 0.2
    assert sum(abs(e) for e in loco_err) < 0.5 * sum(abs(e) for e in prior_err)
    # in sample, the fitted profile reproduces the runs it was given
    from green_estimate.calibration.from_runs import predict_config

    p = result.profile["runs_model"]["params"]
    prior = resolve_profile("datasheet:gtx-1080")
    base, pri = prior_from_profile(prior)
    for conf in configurations(read_runs(tmp_path / "runs.csv"), base, pri.idle0_w):
        e, _ = predict_config(conf, p)
        assert abs(math.log(e) - conf.energy[0]) < 0.1
    prof = result.profile
    assert prof["provenance"] == "measured-runs" and prof["runs_model"]["source"]["runs"] == 18
    assert prof["runs_model"]["source"]["sha256"] and prof["runs_model"]["prior"]["profile"] == "datasheet:gtx-1080"


def test_parameters_the_runs_cannot_see_stay_at_the_prior(tmp_path):
    dense = [c for c in CONFIGS if c[0] != "SimpleCNN"]  # no convolution, norm or pooling anywhere
    result = calibrate_from_runs(_synthetic(tmp_path, dense), prior="datasheet:gtx-1080", write=False)
    p, sd = result.profile["runs_model"]["params"], result.profile["runs_model"]["param_sd"]
    prior_sd = result.profile["runs_model"]["prior"]["sd"]
    assert p["scale_conv"] == pytest.approx(1.0, abs=1e-6) and p["spatial_op_s"] == pytest.approx(0.0, abs=1e-12)
    assert sd["scale_conv"] == pytest.approx(prior_sd["scale_conv"], rel=1e-3)  # nothing learnt: prior width
    assert sd["scale_linear"] < prior_sd["scale_linear"]                        # learnt: narrower


def test_intervals_widen_with_fewer_configurations(tmp_path):
    one = calibrate_from_runs(_synthetic(tmp_path / "a", CONFIGS[:1]), prior="datasheet:gtx-1080", write=False)
    six = calibrate_from_runs(_synthetic(tmp_path / "b"), prior="datasheet:gtx-1080", write=False)
    from green_estimate.runs.model import log_halfwidth

    q1 = log_halfwidth(one.profile["runs_model"], "energy_j", 0.9)
    q6 = log_halfwidth(six.profile["runs_model"], "energy_j", 0.9)
    assert q1 > q6
    iv = one.profile["runs_model"]["interval"]["energy_j"]
    # one configuration left out is predicted by the prior alone: (NU0·0.5² + e²)/(NU0 + 1), t with 3 df
    (row,) = one.profile["runs_model"]["loco"]
    e = row["energy_j"]["left_out_log_err"]
    assert iv["sigma_log"] == pytest.approx(math.sqrt((2 * 0.5 ** 2 + e * e) / 3)) and iv["df"] == 3


def test_time_runs_and_a_runs_profile_as_prior(tmp_path):
    path = _synthetic(tmp_path, CONFIGS[:3], time=True)
    first = calibrate_from_runs(path, prior="datasheet:gtx-1080", out=tmp_path / "first.json")
    assert first.profile["time_provenance"] == "measured-runs"
    assert first.profile["runs_model"]["interval"]["time_s"]["configurations"] == 3
    # the first fit is the prior of the second: its posterior sds are the new prior sds
    second = calibrate_from_runs(_synthetic(tmp_path / "more", CONFIGS[3:]), prior=str(tmp_path / "first.json"),
                                 write=False)
    r1, r2 = first.profile["runs_model"], second.profile["runs_model"]
    assert r2["prior"]["sd"] == pytest.approx({k: max(v, 1e-12) for k, v in r1["param_sd"].items()})
    assert r2["prior"]["mean"] == pytest.approx(r1["params"])


def test_runs_without_idle_are_fitted_as_energy_above_idle(tmp_path):
    path = _synthetic(tmp_path, CONFIGS[:2])
    rows = list(csv.DictReader(open(path)))
    prior = resolve_profile("datasheet:gtx-1080")
    base, pri = prior_from_profile(prior)
    confs = configurations(read_runs(path), base, pri.idle0_w)
    for row in rows:
        conf = confs[0] if json.loads(row["model_args"])["C"] == 1 else confs[1]
        _, t, _ = step_cost(conf.basis, TRUE)
        row["energy_j"] = float(row["energy_j"]) - TRUE["idle_w"] * t * 100
        row["idle_included"] = "false"
    _write(path, rows)
    from green_estimate.calibration.from_runs import predict_config

    result = calibrate_from_runs(path, prior="datasheet:gtx-1080", write=False)
    for conf in configurations(read_runs(path), base, pri.idle0_w):
        e, _ = predict_config(conf, result.profile["runs_model"]["params"])
        assert abs(math.log(e) - conf.energy[0]) < 0.1


def test_the_shipped_profile_is_reproduced_from_the_study_runs():
    result = calibrate_from_runs(RUNS / "yarally-cain2023-gtx1080.csv", prior="datasheet:gtx-1080",
                                 name="gtx-1080-yarally-cain2023", write=False)
    shipped = json.loads(SHIPPED.read_text())
    assert result.profile["runs_model"]["params"] == pytest.approx(shipped["runs_model"]["params"], rel=1e-6, abs=1e-15)
    for got, want in zip(result.profile["runs_model"]["loco"], shipped["runs_model"]["loco"], strict=True):
        assert got["label"] == want["label"] and got["energy_j"] == pytest.approx(want["energy_j"], rel=1e-6)
    assert shipped["provenance"] == "measured-runs" and shipped["name"] == "gtx-1080-yarally-cain2023"
    # on the study's own rows, leaving each configuration out beats the datasheet profile on average
    prior_err, loco_err = _errors(result)
    assert sum(map(abs, loco_err)) < sum(map(abs, prior_err))


def test_several_devices_are_refused(tmp_path):
    path = _synthetic(tmp_path, CONFIGS[:2], repeats=1)
    rows = list(csv.DictReader(open(path)))
    rows[1]["device"] = "NVIDIA T4"
    _write(path, rows)
    from green_estimate.errors import UsageError

    with pytest.raises(UsageError, match="runs of 2 devices"):
        calibrate_from_runs(path, prior="datasheet:gtx-1080", write=False)
