"""Embedding rows no step has looked up: the tables the counter records, the zero elements they hold at
least, and the note that says how much longer Adam's square roots over them can make a CPU step."""
from __future__ import annotations

import math

import torch
from torch import nn

from green_estimate.accumulation import optimizer_step
from green_estimate.counting.counter import count_step
from green_estimate.zero_moments import NOTE_SHARE, sqrt_zero_extra_s_per_element, zero_moment_note, zero_rows


class Tables(nn.Module):
    def __init__(self, rows: int = 100_000, dim: int = 16, sparse: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(rows, dim)
        self.bag = nn.EmbeddingBag(300, 4, mode="sum", sparse=sparse)  # a sparse one's update touches looked-up rows
        self.frozen = nn.Embedding(50_000, 8)
        self.frozen.weight.requires_grad_(False)
        self.head = nn.Linear(dim + 4 + 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.emb(x).mean(1), self.bag(x % 300), self.frozen(x).mean(1)], dim=1))


def counted(optimizer: str = "adam", rows: int = 100_000, batch: int = 4, seq: int = 10, target: str = "cpu",
            sparse: bool = False):
    with torch.device("meta"):
        model = Tables(rows, sparse=sparse)
    return count_step(model, (torch.zeros(batch, seq, dtype=torch.long, device="meta"),), optimizer=optimizer,
                      target=target)


def test_the_counter_records_the_tables_the_optimizer_updates_with_a_dense_gradient():
    assert counted().lookup_tables == [("emb", 100_000, 100_000 * 16), ("bag", 300, 300 * 4)]  # not the frozen one
    assert counted("sgd", sparse=True).lookup_tables == [("emb", 100_000, 100_000 * 16)]  # (Adam takes no sparse one)
    assert counted("none").lookup_tables == []


def test_the_zero_elements_are_the_rows_the_step_did_not_look_up():
    # 4 × 10 = 40 indices into 100,000 rows of 16: at least 99,960 rows (1,599,360 elements) not looked up
    # (the bag looks up 40 of its 300 rows: 260 × 4 = 1,040 elements)
    assert zero_rows(counted()) == [("emb", 100_000, 99_960 * 16), ("bag", 300, 1_040)]
    # ten micro-batches per optimizer step look up 400
    assert zero_rows(optimizer_step(counted(), 10)) == [("emb", 100_000, 99_600 * 16)]  # and the bag all 300
    # a table every step can cover (40 indices, 40 rows) holds no row the step surely leaves zero
    assert [t[0] for t in zero_rows(counted(rows=40))] == ["bag"]


def test_the_note_prices_the_zero_elements_at_the_cpus_extra_time_per_zero():
    report = counted()
    extra_s = (99_960 * 16 + 1_040) * 2e-9  # 3.200 ms at 2 ns per zero: 32% of a 10 ms step
    note = zero_moment_note(report, 0.01, lambda: 2e-9)
    assert note is not None and "up to 3.2 ms (32% of the predicted step)" in note
    assert "2 embedding tables (100,300 rows) look up" in note and "2.0 ns longer per zero" in note
    one = zero_moment_note(counted(batch=30), 0.01, lambda: 2e-9)  # 300 indices: the bag's every row
    assert one is not None and "An embedding table (100,000 rows) looks up fewer rows per step than it has" in one
    # too small a share of the step, no extra time per zero, no square root (SGD), a GPU: no note
    assert zero_moment_note(report, extra_s / NOTE_SHARE * 1.01, lambda: 2e-9) is None
    assert zero_moment_note(report, 0.01, lambda: 0.0) is None
    assert zero_moment_note(counted("sgd"), 0.01, lambda: 2e-9) is None
    assert zero_moment_note(counted(target="cuda"), 0.01, lambda: 2e-9) is None


def test_the_extra_time_per_zero_is_measured_on_this_cpu():
    sqrt_zero_extra_s_per_element.cache_clear()
    extra = sqrt_zero_extra_s_per_element()
    assert math.isfinite(extra) and extra >= 0.0
    assert sqrt_zero_extra_s_per_element() == extra  # once per process


def test_a_prediction_on_a_cpu_profile_carries_the_note(monkeypatch):
    import green_estimate.zero_moments as zm
    from green_estimate.predict import predict_report
    from green_estimate.profile import Profile
    from green_estimate.training_plan import TrainingPlan
    from tests.test_incontext_pricing import incontext_profile

    monkeypatch.setattr(zm, "sqrt_zero_extra_s_per_element", lambda: 1e-6)  # slow enough for any step here
    pred = predict_report(counted(), plan=TrainingPlan(4, steps_given=1), profile=Profile.from_dict(incontext_profile()),
                          probe=False)
    note = next(n for n in pred.notes if "second moment of a row stays 0" in n)
    assert f"up to {(99_960 * 16 + 1_040) * 1e-6 * 1e3:.1f} ms" in note
    monkeypatch.setattr(zm, "sqrt_zero_extra_s_per_element", lambda: 0.0)
    pred = predict_report(counted(), plan=TrainingPlan(4, steps_given=1), profile=Profile.from_dict(incontext_profile()),
                          probe=False)
    assert not any("second moment" in n for n in pred.notes)


def test_tables_as_large_as_the_lookups_of_a_step_are_not_noted():
    report = counted(rows=100, batch=30, seq=10)  # 300 indices into 100 rows and into the bag's 300
    assert zero_rows(report) == [] and zero_moment_note(report, 1e-9, lambda: 1.0) is None


def test_a_table_tied_to_an_output_layer_has_a_dense_gradient_and_is_not_listed():
    class Tied(nn.Module):  # a language model's input embedding shared with its output layer (GPT-2's wte)
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(50_000, 16)
            self.head = nn.Linear(16, 50_000, bias=False)
            self.head.weight = self.wte.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.wte(x))

    with torch.device("meta"):
        model = Tied()
    report = count_step(model, (torch.zeros(4, 10, dtype=torch.long, device="meta"),), optimizer="adam")
    assert report.lookup_tables == [] and zero_moment_note(report, 1e-9, lambda: 1.0) is None
