"""Gradient accumulation: the adds autograd runs, steps of the plan, and the price of an optimizer step."""
from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
import torch.nn as nn

from green_estimate.accumulation import accumulation_ops, optimizer_step
from green_estimate.counting.counter import count_step, record_ops
from green_estimate.errors import UsageError
from green_estimate.predict import predict_report
from green_estimate.training_plan import TrainingPlan
from tests.test_predict import per_flop_profile


def tiny():
    with torch.device("meta"):
        return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)), torch.empty(3, 8)


TINY_PARAMS = 8 * 4 + 4 + 4 * 2 + 2  # tiny()'s weights and biases: one accumulating add each per extra micro-batch


def adam_step_flops():
    """tiny()'s one-micro-batch Adam step counted, with its forward+backward FLOPs and its optimizer FLOPs."""
    model, x = tiny()
    report = count_step(model, (x,), optimizer="adam")
    return (report, sum(o.flops for o in report.ops if o.phase != "optimizer"),
            sum(o.flops for o in report.ops if o.phase == "optimizer"))


def _signature(ops):
    return Counter((o.op, o.cls, o.flops, o.bytes_read, o.bytes_written) for o in ops)


def test_synthesised_adds_are_what_autograd_runs_on_a_second_micro_batch():
    model, x = tiny()
    report = count_step(model, (x,), optimizer="sgd")
    model.zero_grad(set_to_none=True)

    def micro_batch():
        model(x).sum().backward()

    first, _ = record_ops(micro_batch)   # .grad is None: gradients are assigned
    second, _ = record_ops(micro_batch)  # .grad exists: AccumulateGrad adds into it
    extra = _signature(second) - _signature(first)
    assert extra == _signature(accumulation_ops(report))
    # one add per parameter tensor (2 weights, 2 biases), numel FLOPs, 2 reads and 1 write of float32
    assert sorted((o.flops, o.bytes_read, o.bytes_written) for o in accumulation_ops(report)) == sorted(
        (n, 2 * 4 * n, 4 * n) for n in (8 * 4, 4, 4 * 2, 2))


def test_an_optimizer_step_of_k_micro_batches_repeats_forward_and_backward_only():
    report, fb, opt = adam_step_flops()
    step = optimizer_step(report, 4)
    assert step.totals().flops == 4 * fb + 3 * TINY_PARAMS + opt
    assert sum(1 for o in step.ops if o.phase == "optimizer") == sum(1 for o in report.ops if o.phase == "optimizer")
    assert optimizer_step(report, 1) is report
    with pytest.raises(UsageError, match="--grad-accum 0"):
        optimizer_step(report, 0)


def test_plan_steps_follow_the_global_batch():
    # 10,000 samples, micro-batch 64, 4 micro-batches, 8 GPUs: 2,048 samples per step
    plan = TrainingPlan(64, 2, 10_000, grad_accum=4, gpus=8)
    assert plan.samples_per_step == 64 * 4 * 8 == 2048
    assert plan.steps == math.ceil(10_000 / 2048) * 2 == 10
    assert TrainingPlan(64, 1, 10_000, steps_given=7, grad_accum=4).steps == 7  # --steps counts optimizer steps
    with pytest.raises(UsageError, match="--grad-accum"):
        TrainingPlan(64, grad_accum=0)


def test_predicted_energy_is_k_passes_plus_adds_plus_one_update():
    report, fb, opt = adam_step_flops()
    adds = TINY_PARAMS
    pred = predict_report(report, plan=TrainingPlan(3, 1, 300, grad_accum=5), profile=per_flop_profile(1e-9, 1e-10),
                          probe=False)
    d = pred.to_dict()
    assert d["per_step"]["energy_j"] == pytest.approx(1e-9 * (5 * fb + 4 * adds + opt))
    assert d["plan"]["steps"] == math.ceil(300 / 15) == 20
    assert d["total"]["energy_j"] == pytest.approx(20 * 1e-9 * (5 * fb + 4 * adds + opt))
    assert any("5 micro-batches" in n for n in d["notes"])
