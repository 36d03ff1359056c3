"""``calibrate --from-runs`` and the shipped measured-runs profile through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_no_traceback import assert_one_line_error, run

ROOT = Path(__file__).resolve().parents[2]
STUDY_MODEL = ROOT / "calibration" / "runs" / "yarally_cain2023_models.py"
HEADER = "model,model_args,input_shape,batch_size,steps,device,energy_j\n"


def _runs(tmp_path: Path, body: str) -> str:
    (tmp_path / "m.py").write_text(STUDY_MODEL.read_text())
    (tmp_path / "runs.csv").write_text(HEADER + body)
    return str(tmp_path / "runs.csv")


@pytest.mark.parametrize("body, says", [
    ('m.py,family=DensePolyNN,"1,28,28",512,100,NVIDIA GeForce GTX 1080,-3\n', "row 2: energy_j is '-3'"),
    ('m.py,family=DensePolyNN,"1,28,28",512,100,NVIDIA GeForce GTX 1080,3\n'
     'gone.py,family=DensePolyNN,"1,28,28",512,100,NVIDIA GeForce GTX 1080,3\n', "row 3: unknown model 'gone.py'"),
    ('m.py,family=Resnet,"1,28,28",512,100,NVIDIA GeForce GTX 1080,3\n', "row 2"),
])
def test_bad_runs_files_are_one_line_naming_the_row(tmp_path, capsys, body, says):
    code, out, err = run(["calibrate", "--from-runs", _runs(tmp_path, body), "--prior", "datasheet:gtx-1080",
                          "--out", str(tmp_path / "p.json")], capsys)
    assert_one_line_error(code, out, err)
    assert says in err


def test_missing_file_and_unmapped_codecarbon_log(tmp_path, capsys):
    code, out, err = run(["calibrate", "--from-runs", str(tmp_path / "nope.csv")], capsys)
    assert_one_line_error(code, out, err)
    assert "does not exist" in err
    (tmp_path / "emissions.csv").write_text("timestamp,project_name,run_id,duration,emissions,energy_consumed\n"
                                            "2024-01-01T00:00:00,p,abc,10,0.1,0.002\n")
    code, out, err = run(["calibrate", "--from-runs", str(tmp_path / "emissions.csv")], capsys)
    assert_one_line_error(code, out, err)
    assert "give --runs-map" in err


def test_missing_columns_and_misplaced_options(tmp_path, capsys):
    (tmp_path / "runs.csv").write_text("model,steps\nm.py,3\n")
    code, out, err = run(["calibrate", "--from-runs", str(tmp_path / "runs.csv")], capsys)
    assert_one_line_error(code, out, err)
    assert "missing column(s) batch_size, device" in err
    code, out, err = run(["calibrate", "--cpu", "--prior", "datasheet:gtx-1080"], capsys)
    assert_one_line_error(code, out, err, codes=(2,))
    code, out, err = run(["calibrate", "--from-runs", str(tmp_path / "runs.csv"), "--cpu"], capsys)
    assert_one_line_error(code, out, err, codes=(2,))


def test_from_runs_writes_a_profile_predict_uses(tmp_path, capsys):
    body = "".join(f'm.py,family={f};C={c};H={h},"{c},{h},{h}",512,{s},NVIDIA GeForce GTX 1080,{e}\n'
                   for f, c, h, s, e in [("DensePolyNN", 1, 28, 2950, 206), ("DenseLinearNN", 1, 28, 2950, 269),
                                         ("SimpleCNN", 1, 28, 2950, 1169)])
    code, out, err = run(["calibrate", "--from-runs", _runs(tmp_path, body), "--out", str(tmp_path / "p.json"),
                          "--json"], capsys)
    assert code in (0, None), err
    doc = json.loads(out)
    assert doc["prior"] == "datasheet:gtx-1080"  # the runs' GPU's datasheet profile when --prior is not given
    assert len(doc["loco"]) == 3 and doc["profile"]["provenance"] == "measured-runs"
    code, out, err = run(["predict", str(STUDY_MODEL), "--profile", str(tmp_path / "p.json"), "--batch-size", "512",
                          "--steps", "2950", "--json"], capsys)
    pred = json.loads(out)
    assert pred["profile"]["provenance"] == "measured-runs"
    lo, hi = pred["total"]["energy_j_interval"]
    assert lo < pred["total"]["energy_j"] < hi


def test_the_shipped_gtx_1080_profile_works_out_of_the_box(capsys):
    code, out, err = run(["predict", str(STUDY_MODEL), "--profile", "gtx-1080-yarally-cain2023", "--batch-size", "512",
                          "--samples", "60000", "--epochs", "25", "--json"], capsys)
    pred = json.loads(out)
    shipped = json.loads((ROOT / "green_estimate/data/profiles/gtx-1080-yarally-cain2023.json").read_text())
    loco = {r["label"]: r for r in shipped["runs_model"]["loco"]}
    measured = loco["C=1 H=28 family=SimpleCNN b512 ×2950"]["energy_j"]["measured_per_run"]
    # a configuration the profile was fitted to: within its in-sample misfit of the study's mean
    assert abs(pred["total"]["energy_j"] / measured - 1) < 0.25
    assert pred["profile"]["provenance"] == "measured-runs" and "yarally-cain2023-gtx1080.csv" in pred["profile"]["source"]
    code, out, err = run(["profiles", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)["profiles"]}
    row = rows["gtx-1080-yarally-cain2023"]
    assert row["provenance"] == "measured-runs" and "2304 runs" in row["source"] and "Yarally" in row["source"]
