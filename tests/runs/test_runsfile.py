"""The runs file: columns, plans, variants, and one-line errors that name the row."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from green_estimate.runs.runsfile import Run, RunsFileError, parse_args_text, read_runs, write_runs

STUDY = Path(__file__).resolve().parents[2] / "calibration" / "runs"
HEADER = "run,model,model_args,input_shape,batch_size,epochs,samples,steps,optimizer,device,energy_j,time_s,meter,idle_included,repetitions\n"


def _write(tmp_path: Path, body: str, header: str = HEADER, name: str = "runs.csv") -> Path:
    (tmp_path / "m.py").write_text("import torch.nn as nn\nINPUT_SHAPE=(4,)\ndef build_model(width=8):\n"
                                   "    return nn.Sequential(nn.Linear(4, width), nn.Linear(width, 2))\n")
    path = tmp_path / name
    path.write_text(header + body)
    return path


def test_steps_from_samples_and_epochs_and_relative_model(tmp_path):
    path = _write(tmp_path, 'a,m.py,"{""width"": 16}",,512,25,60000,,adam,dev,100.5,,nvml,true,3\n'
                            "b,m.py,width=32;tag=x,4,64,,,10,sgd,dev,,2.5,,false,\n")
    a, b = read_runs(path)
    assert a.steps == math.ceil(60000 / 512) * 25 == 118 * 25
    assert a.model == str(tmp_path / "m.py") and a.model_args == {"width": 16}
    assert a.repetitions == 3 and a.idle_included and a.energy_j == 100.5 and a.time_s is None
    assert b.steps == 10 and b.model_args == {"width": 32, "tag": "x"} and b.input_shape == (4,)
    assert b.optimizer == "sgd" and not b.idle_included and b.energy_j is None and b.time_s == 2.5
    assert a.config_key != b.config_key


def test_jsonl_and_write_round_trip(tmp_path):
    path = _write(tmp_path, "", header="", name="runs.jsonl")
    path.write_text(json.dumps({"model": "m.py", "model_args": {"width": 4}, "batch_size": 8, "steps": 5,
                                "device": "dev", "energy_j": 3.0}) + "\n\n")
    (run,) = read_runs(path)
    assert run.steps == 5 and run.model_args == {"width": 4}
    for suffix in (".csv", ".jsonl"):
        out = write_runs([run], tmp_path / f"again{suffix}")
        (again,) = read_runs(out)
        assert again.config_key == run.config_key and again.energy_j == 3.0


def test_args_text_forms():
    assert parse_args_text('{"C": 3, "family": "SimpleCNN"}', "here") == {"C": 3, "family": "SimpleCNN"}
    assert parse_args_text("C=3;family=SimpleCNN;relu=true", "here") == {"C": 3, "family": "SimpleCNN", "relu": True}
    with pytest.raises(RunsFileError, match="here: model_args part 'C3'"):
        parse_args_text("C3", "here")


@pytest.mark.parametrize("body, header, message", [
    ("a,m.py,,,8,,,4,adam,dev,-5,,,,\n", HEADER, r"runs.csv, row 2: energy_j is '-5'; it must be positive"),
    ("a,m.py,,,8,,,4,adam,dev,1,,,,\nb,nope.py,,,8,,,4,adam,dev,1,,,,\n", HEADER,
     r"runs.csv, row 3: unknown model 'nope.py'"),
    ("a,m.py,,,8,,,4,adam,dev,,,,,\n", HEADER, "row 2: neither energy_j nor time_s"),
    ("a,m.py,,,8,,,,adam,dev,1,,,,\n", HEADER, "row 2: no steps, and no epochs and samples"),
    ("a,m.py,,,8,,,4,adam,dev,1,,,maybe,\n", HEADER, "row 2: idle_included 'maybe'"),
    ("a,m.py,,,eight,,,4,adam,dev,1,,,,\n", HEADER, "row 2: batch_size 'eight' is not a number"),
    ("a,m.py,4\n", "run,model,batch_size\n", r"missing column\(s\) device"),
    ("", HEADER, "has no runs"),
])
def test_bad_rows_are_one_line_naming_the_row(tmp_path, body, header, message):
    with pytest.raises(RunsFileError, match=message) as info:
        read_runs(_write(tmp_path, body, header))
    assert "\n" not in str(info.value)


def test_the_study_runs_file_reads_as_the_study_describes():
    runs = read_runs(STUDY / "yarally-cain2023-gtx1080.csv")
    assert len(runs) == 2304
    steps = {r.model_args["C"]: r.steps for r in runs}
    assert steps == {1: 118 * 25, 3: 98 * 25}  # FashionMNIST 60,000 and CIFAR-10 50,000 samples at batch 512
    assert {r.device for r in runs} == {"NVIDIA GeForce GTX 1080"}
    assert len({r.config_key for r in runs}) == 6 and all(isinstance(r, Run) and r.idle_included for r in runs)
