"""calibration/refit_profile.py: several samples files of one device are fitted together, files of
different devices are refused (the fit itself is calibration's, tested there)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "calibration" / "refit_profile.py"


def _script():
    spec = importlib.util.spec_from_file_location("refit_profile", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _samples(path: Path, device: str, cases: list[str]) -> Path:
    lines = [{"type": "header", "schema": "green-estimate/samples@1", "device_name": device}]
    lines += [{"type": "sample", "case": c, "ops": []} for c in cases]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def test_samples_of_one_device_are_read_together_in_order(tmp_path):
    a = _samples(tmp_path / "a.jsonl", "NVIDIA H200", ["n1", "n2"])
    b = _samples(tmp_path / "b.jsonl", "NVIDIA H200", ["n3"])
    assert [s["case"] for s in _script().read_all([a, b])] == ["n1", "n2", "n3"]


def test_samples_of_different_devices_are_refused_naming_both_files(tmp_path):
    a = _samples(tmp_path / "a.jsonl", "NVIDIA H200", ["n1"])
    b = _samples(tmp_path / "b.jsonl", "Intel(R) Xeon(R) Processor (16 threads)", ["n2"])
    with pytest.raises(SystemExit) as err:
        _script().read_all([a, b])
    assert "different devices" in str(err.value) and "a.jsonl (NVIDIA H200)" in str(err.value) \
        and "b.jsonl (Intel(R) Xeon(R) Processor (16 threads))" in str(err.value)


def test_a_missing_samples_file_is_named(tmp_path):
    with pytest.raises(SystemExit, match="no samples file .*gone.jsonl"):
        _script().read_all([tmp_path / "gone.jsonl"])
