"""The Lightning callback on a real ``lightning.pytorch.Trainer`` fit of a tiny CPU model."""
from __future__ import annotations

import logging
import math
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("lightning")
import torch  # noqa: E402
from lightning.pytorch import Trainer  # noqa: E402

from green_estimate.callbacks.lightning import GreenEstimateCallback  # noqa: E402
from green_estimate.meters import FakeMeter  # noqa: E402
from green_estimate.meters.base import MEASURED  # noqa: E402
from green_estimate.runs.runsfile import read_runs  # noqa: E402

MODEL_FILE = textwrap.dedent('''
    import torch
    from lightning.pytorch import LightningModule

    class TinyModule(LightningModule):
        def __init__(self, hidden=16):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(8, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3))

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    def build_model(hidden=16):
        return TinyModule(hidden)
''')


class MeasuredFake(FakeMeter):
    """A fake meter that claims a hardware counter, so the runs file keeps its energy."""

    provenance = MEASURED


@pytest.fixture()
def model_file(tmp_path):
    path = tmp_path / "tiny_module.py"
    path.write_text(MODEL_FILE)
    return path


def _module(model_file):
    from green_estimate.loading import import_source

    return import_source(str(model_file)).build_model()


def _loader(n=40, batch=4):
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g))
    return torch.utils.data.DataLoader(data, batch_size=batch)


def _trainer(callback, tmp_path, **kwargs):
    kwargs.setdefault("logger", False)
    return Trainer(accelerator="cpu", devices=1, callbacks=[callback], enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, **kwargs)


def test_a_fit_is_predicted_measured_and_recorded(tmp_path, model_file, caplog):
    from lightning.pytorch.loggers import CSVLogger

    runs = tmp_path / "runs.csv"
    cb = GreenEstimateCallback(runs, model_ref=str(model_file), meter=MeasuredFake(50.0), run_name="fit-1")
    csv_logger = CSVLogger(tmp_path / "logs")
    trainer = _trainer(cb, tmp_path, max_epochs=2, accumulate_grad_batches=2, logger=csv_logger)
    caplog.set_level(logging.INFO, logger="green_estimate.callbacks")
    t0 = time.perf_counter()
    trainer.fit(_module(model_file), _loader(n=40, batch=4))
    wall_s = time.perf_counter() - t0
    # 40 samples / batch 4 = 10 micro-batches an epoch, 2 per optimizer step: 5 steps × 2 epochs
    assert cb.prediction["plan"]["steps"] == 10
    assert cb.prediction["plan"]["batch_size"] == 4 and cb.prediction["plan"]["grad_accum"] == 2
    assert cb.prediction["total"]["energy_j"] > 0
    r = cb.result
    assert r.steps == 10 == trainer.global_step
    assert 0 < r.time_s <= wall_s
    assert r.energy_j == pytest.approx(50.0 * r.time_s, rel=1e-6)  # the fake's 50 W over the measured window
    assert r.predicted_energy_j == pytest.approx(cb.prediction["per_step"]["energy_j"] * 10)
    text = caplog.text
    assert "green-estimate predicts 10 steps" in text and "predicted" in text and "measured" in text
    [run] = read_runs(runs)
    assert (run.run, run.model, run.batch_size, run.steps, run.samples, run.optimizer) == (
        "fit-1", str(model_file), 8, 10, 40, "sgd")  # batch 4 × 2 micro-batches per optimizer step
    assert run.energy_j == pytest.approx(r.energy_j) and run.time_s == pytest.approx(r.time_s)
    assert run.meter == "fake"
    metrics = (Path(csv_logger.log_dir) / "metrics.csv").read_text()  # the trainer's logger got the comparison
    assert "green_estimate/measured_energy_j" in metrics and "green_estimate/predicted_energy_j" in metrics


def test_a_second_fit_appends_and_calibrate_from_runs_reads_the_file(tmp_path, model_file, capsys):
    import json

    from tests.cli.test_no_traceback import run as run_cli

    runs = tmp_path / "runs.csv"
    for epochs, hidden in ((1, 16), (2, 32)):
        cb = GreenEstimateCallback(runs, model_ref=str(model_file), model_args={"hidden": hidden},
                                   meter=MeasuredFake(40.0))
        module = _module(model_file)
        module.net[0] = torch.nn.Linear(8, hidden)
        module.net[2] = torch.nn.Linear(hidden, 3)
        _trainer(cb, tmp_path, max_epochs=epochs).fit(module, _loader(n=24, batch=6))
    first, second = read_runs(runs)
    assert (first.steps, first.model_args, second.steps, second.model_args) == (4, {"hidden": 16}, 8, {"hidden": 32})
    code, out, err = run_cli(["calibrate", "--from-runs", str(runs), "--prior", "cpu-reference-2core",
                              "--out", str(tmp_path / "fitted.json"), "--json"], capsys)
    assert code in (0, None), err
    fitted = json.loads((tmp_path / "fitted.json").read_text())
    assert fitted["provenance"] == "measured-runs"
    assert (fitted["runs_model"]["source"]["runs"], fitted["runs_model"]["source"]["configurations"]) == (2, 2)


def test_max_steps_rules_the_plan_and_the_estimate_meter_records_time_only(tmp_path, model_file):
    runs = tmp_path / "runs.jsonl"
    from green_estimate.meters import EstimateMeter

    cb = GreenEstimateCallback(runs, model_ref=str(model_file), meter=EstimateMeter(30.0))
    trainer = _trainer(cb, tmp_path, max_epochs=5, max_steps=3)
    trainer.fit(_module(model_file), _loader(n=40, batch=4))
    assert cb.prediction["plan"]["steps"] == 3
    [run] = read_runs(runs)
    assert run.steps == 3 and run.energy_j is None and run.time_s > 0
    assert any("only estimates" in n for n in cb.result.notes)


def test_a_model_it_cannot_count_is_still_measured_with_the_best_meter_here(tmp_path, model_file, caplog):
    cb = GreenEstimateCallback(profile="no-such-profile")  # no meter given: it opens the best one and closes it
    caplog.set_level(logging.WARNING, logger="green_estimate.callbacks")
    _trainer(cb, tmp_path, max_epochs=1).fit(_module(model_file), _loader(n=8, batch=4))
    assert cb.prediction is None and "no prediction for this fit" in caplog.text
    assert cb.result.meter in ("nvml", "rapl", "estimate") and cb.tracker.meter is None
    assert cb.result.steps == 2 and cb.result.time_s > 0 and math.isnan(cb.result.metrics().get(
        "green_estimate/predicted_energy_j", math.nan))
