"""The Hugging Face callback on a real ``transformers.Trainer`` run of a tiny BERT built from a config."""
from __future__ import annotations

import logging
import time

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

from green_estimate.callbacks.hf import GreenEstimateCallback  # noqa: E402
from green_estimate.meters import FakeMeter  # noqa: E402
from green_estimate.meters.base import MEASURED  # noqa: E402
from green_estimate.runs.runsfile import read_runs  # noqa: E402

SEQ = 8


class MeasuredFake(FakeMeter):
    provenance = MEASURED


class Tokens(torch.utils.data.Dataset):
    """Random token ids and labels: no tokenizer, no download."""

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 50, (n, SEQ), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(SEQ, dtype=torch.long), "labels": self.labels[i]}


def _model():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)


def _args(tmp_path, **kwargs):
    return TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], save_strategy="no",
                             logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0, **kwargs)


def test_a_trainer_run_is_predicted_measured_and_recorded(tmp_path, caplog):
    runs = tmp_path / "runs.csv"
    cb = GreenEstimateCallback(runs, meter=MeasuredFake(20.0), run_name="bert-1")
    args = _args(tmp_path, per_device_train_batch_size=4, gradient_accumulation_steps=2, num_train_epochs=2)
    trainer = Trainer(model=_model(), args=args, train_dataset=Tokens(24), callbacks=[cb])
    caplog.set_level(logging.INFO, logger="green_estimate.callbacks")
    t0 = time.perf_counter()
    trainer.train()
    wall_s = time.perf_counter() - t0
    # 24 samples / batch 4 = 6 micro-batches an epoch, 2 per optimizer step: 3 steps × 2 epochs
    plan = cb.prediction["plan"]
    assert (plan["steps"], plan["batch_size"], plan["grad_accum"], plan["samples"]) == (6, 4, 2, 24)
    assert cb.prediction["total"]["energy_j"] > 0
    assert "linear" in cb.prediction["by_class"]  # the BERT step was counted, not an empty one
    r = cb.result
    assert r.steps == 6 == trainer.state.global_step
    assert 0 < r.time_s <= wall_s
    assert r.energy_j == pytest.approx(20.0 * r.time_s, rel=1e-6)
    assert "green-estimate predicts 6 steps" in caplog.text and "measured" in caplog.text
    [run] = read_runs(runs)
    assert (run.run, run.batch_size, run.steps, run.samples, run.optimizer) == ("bert-1", 8, 6, 24, "adamw")
    assert run.model.endswith(":BertForSequenceClassification") and run.input_shape is None
    assert run.time_s == pytest.approx(r.time_s)


def test_max_steps_rules_the_plan(tmp_path):
    cb = GreenEstimateCallback(meter=MeasuredFake(20.0))
    args = _args(tmp_path, per_device_train_batch_size=2, max_steps=3)
    trainer = Trainer(model=_model(), args=args, train_dataset=Tokens(40), callbacks=[cb])
    trainer.train()
    assert cb.prediction["plan"]["steps"] == 3 and cb.result.steps == 3
    assert cb.result.runs_file is None  # no runs file asked for
