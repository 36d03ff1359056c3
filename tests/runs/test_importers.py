"""Importers on real-format samples: CodeCarbon's emissions.csv, a ZeusMonitor log, validate's trials.csv."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_estimate.runs.importers import J_PER_KWH, detect_format, load_runs
from green_estimate.runs.runsfile import RunsFileError

# The header CodeCarbon 2.x writes (mlco2/codecarbon tests/test_data/emissions_valid_headers.csv and files
# published beside trained models); values in kWh, duration in seconds.
CODECARBON = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,"
    "cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,"
    "cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,"
    "ram_total_size,tracking_mode,on_cloud,pue\n"
    "2025-01-27T15:25:35,codecarbon,f86289a9-04d4-473e-8424-2de8cd2b3098,5b0fa12a-3dd7-45bb-9766-cc326314d9f1,"
    "9593.820775824,0.0798536895695999,8.32345021191428e-06,42.5,31.1227024466945,4.7530388832092285,"
    "0.11310541445651234,0.172633278106512,0.01264368844302091,0.2983823810060454,The Netherlands,NLD,groningen,,,"
    "Linux-6.1.85+-x86_64-with-glibc2.35,3.11.11,2.8.3,2,Intel(R) Xeon(R) CPU @ 2.00GHz,1,1 x Tesla T4,6.5751,"
    "53.2145,12.67477035522461,machine,N,1.0\n"
    "2025-01-27T18:01:02,codecarbon,0a578547-1d6b-4e2f-be0c-7ad10f2f7c97,5b0fa12a-3dd7-45bb-9766-cc326314d9f1,"
    "161.20380687713623,0.0004490989249167,0.0027859076880178,42.5,30.0,4.75,0.0019,0.0013,0.0002,0.0034,"
    "The Netherlands,NLD,groningen,,,Linux-6.1.85+-x86_64-with-glibc2.35,3.11.11,2.8.3,2,"
    "Intel(R) Xeon(R) CPU @ 2.00GHz,1,1 x Tesla T4,6.5751,53.2145,12.67477035522461,machine,N,1.0\n"
)
# What ZeusMonitor(log_file=...) writes: its header, then one line per end_window (seconds, joules).
ZEUS = ("start_time,window_name,elapsed_time,gpu0_energy,gpu1_energy\n"
        "1700000000.25,cnn-epochs,120.5,15000.25,14000.5\n"
        "1700000200.75,mlp-epochs,30.25,2500.0,2400.0\n")
MODEL = "import torch.nn as nn\nINPUT_SHAPE=(4,)\ndef build_model(width=8):\n    return nn.Sequential(nn.Linear(4, width), nn.Linear(width, 2))\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "m.py").write_text(MODEL)
    return tmp_path


def test_codecarbon_rows_are_joined_through_the_mapping(folder):
    (folder / "emissions.csv").write_text(CODECARBON)
    (folder / "map.toml").write_text(
        '[defaults]\nmodel = "m.py"\nbatch_size = 32\n\n'
        '[runs.f86289a9-04d4-473e-8424-2de8cd2b3098]\nmodel_args = {width = 16}\nsteps = 1000\n\n'
        '[runs.0a578547-1d6b-4e2f-be0c-7ad10f2f7c97]\nsteps = 20\nenergy = "gpu"\n')
    assert detect_format(folder / "emissions.csv") == "codecarbon"
    (big, small), fmt, _ = load_runs(folder / "emissions.csv", folder / "map.toml")
    assert fmt == "codecarbon"
    assert big.energy_j == pytest.approx(0.2983823810060454 * 3.6e6) and big.time_s == pytest.approx(9593.820775824)
    assert big.model_args == {"width": 16} and big.steps == 1000 and big.device == "Intel(R) Xeon(R) CPU @ 2.00GHz"
    assert small.energy_j == pytest.approx(0.0013 * J_PER_KWH) and small.device == "1 x Tesla T4"  # gpu energy only
    assert "codecarbon 2.8.3" in small.meter and small.model == str(folder / "m.py")


def test_codecarbon_needs_a_mapping_and_a_known_run(folder):
    (folder / "emissions.csv").write_text(CODECARBON)
    with pytest.raises(RunsFileError, match="does not say what was trained; give --runs-map"):
        load_runs(folder / "emissions.csv")
    (folder / "map.toml").write_text('[runs.other]\nmodel = "m.py"\n')
    with pytest.raises(RunsFileError, match=r"row 2: run 'f86289a9-04d4-473e-8424-2de8cd2b3098' is not in the mapping"):
        load_runs(folder / "emissions.csv", folder / "map.toml")


def test_zeus_log_sums_the_gpus_of_a_window(folder):
    (folder / "zeus.csv").write_text(ZEUS)
    (folder / "map.json").write_text(json.dumps({
        "defaults": {"model": "m.py", "batch_size": 64, "device": "NVIDIA A100-SXM4-40GB"},
        "runs": {"cnn-epochs": {"steps": 900}, "mlp-epochs": {"steps": 300, "model_args": {"width": 4}}}}))
    assert detect_format(folder / "zeus.csv") == "zeus"
    (cnn, mlp), _, _ = load_runs(folder / "zeus.csv", folder / "map.json")
    assert cnn.energy_j == pytest.approx(15000.25 + 14000.5) and cnn.time_s == 120.5 and cnn.steps == 900
    assert mlp.energy_j == pytest.approx(4900.0) and mlp.model_args == {"width": 4} and "gpu0_energy+gpu1_energy" in mlp.meter


def test_validate_trials_with_their_report(tmp_path):
    from green_estimate.validation.rows import CSV_COLUMNS

    rec = dict.fromkeys(CSV_COLUMNS, "")
    rec.update({"strategy": "grid", "trial": 3, "family": "simple_cnn", "conv_blocks": 2, "linear_layers": 3,
                "relu": True, "epochs": 10, "batch_size": 128, "steps": 120, "measured_energy_j": 4.5,
                "measured_time_s": 0.56, "meter": "estimate", "provenance": "estimated"})
    import csv

    with open(tmp_path / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        w.writeheader()
        w.writerow({**rec, "load_avg_1m": 1.2})
        w.writerow({**rec, "trial": 4, "load_avg_1m": 3.5, "measured_time_s": 9.0})  # another job had the CPU
    with pytest.raises(RunsFileError, match="no report.json beside it"):
        load_runs(tmp_path / "trials.csv")
    (tmp_path / "report.json").write_text(json.dumps({"dataset": {"input_shape": [1, 16, 16]}, "config": {
        "torch_threads": 2, "device": "cpu", "profile": {"device": "AMD EPYC (2 threads)", "other_device": False}}}))
    (run,), fmt, notes = load_runs(tmp_path / "trials.csv")
    assert notes == ["1 of 2 trials left out: measured while other work competed for the CPU (1-minute load above "
                     "2 torch threads + 1)"]
    assert fmt == "validate" and run.steps == 120 and run.batch_size == 128 and run.time_s == 0.56
    assert run.device == "AMD EPYC (2 threads)"
    assert run.model_args == {"family": "simple_cnn", "conv_blocks": 2, "linear_layers": 3, "relu": True,
                              "input_shape": [1, 16, 16]}
    from green_estimate.counting.counter import count_model

    report = count_model(run.model, batch_size=8, model_kwargs=run.model_args, input_shape=run.input_shape)
    assert report.by_class()["conv"].flops > 0  # the model the trial trained is rebuilt from its row


def _validate_folder(tmp_path, rows):
    import csv

    from green_estimate.validation.rows import CSV_COLUMNS

    base = dict.fromkeys(CSV_COLUMNS, "")
    base.update({"strategy": "grid", "family": "dense_linear", "conv_blocks": 0, "linear_layers": 2, "relu": True,
                 "epochs": 1, "batch_size": 64, "steps": 30, "measured_energy_j": 1.0, "measured_time_s": 0.2,
                 "meter": "estimate", "provenance": "estimated"})
    with open(tmp_path / "trials.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        w.writeheader()
        for i, extra in enumerate(rows):
            w.writerow({**base, "trial": i, **extra})
    (tmp_path / "report.json").write_text(json.dumps({"dataset": {"input_shape": [64]}, "config": {
        "torch_threads": 2, "device": "cpu", "profile": {"device": "AMD EPYC (2 threads)", "other_device": False}}}))
    return tmp_path / "trials.csv"


def test_validate_trials_run_off_pace_are_left_out_unless_kept(tmp_path):
    # ×1.25 either way is the limit: 1.24 and 1/1.24 stay, 1.3 (slower) and 0.7 (faster) go; no pace (a GPU run) stays
    path = _validate_folder(tmp_path, [{"machine_pace": 1.24}, {"machine_pace": 1 / 1.24}, {"machine_pace": 1.3},
                                       {"machine_pace": 0.7}, {"machine_pace": ""},
                                       {"machine_pace": 1.0, "load_avg_1m": 3.5}])
    runs, _, notes = load_runs(path)
    assert [r.run for r in runs] == ["grid-0", "grid-1", "grid-4"]
    assert notes == ["1 of 6 trials left out: measured while other work competed for the CPU (1-minute load above "
                     "2 torch threads + 1)",
                     "2 of 6 trials left out: run off pace (the machine took beyond ×1.25 either way its time for a "
                     "fixed reference step when the profile was made)"]
    kept, _, notes = load_runs(path, keep_contended=True)
    assert len(kept) == 6 and notes == []


def test_validate_trials_all_off_pace_or_a_bad_pace_say_what_to_do(tmp_path):
    with pytest.raises(RunsFileError, match="at pace: rerun validate on an idle machine, or pass --keep-contended"):
        load_runs(_validate_folder(tmp_path, [{"machine_pace": 2.0}]))
    with pytest.raises(RunsFileError, match=r"row 2: machine_pace 'fast' is not a number"):
        load_runs(_validate_folder(tmp_path, [{"machine_pace": "fast"}]))
