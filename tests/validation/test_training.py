"""The measured training loop: exactly the priced steps, full batches, warm-up outside the window."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from green_estimate.validation.training import AdamParams, batch_order, evaluate, steps_per_epoch, train_measured

from .conftest import TICK_J, TICK_S


def test_batch_order_covers_every_sample_each_epoch_in_full_batches():
    n, b, epochs = 10, 4, 3
    order = batch_order(n, b, epochs, torch.Generator().manual_seed(0))
    assert steps_per_epoch(n, b) == math.ceil(10 / 4) == 3
    assert order.shape == (epochs * 3, b)
    for e in range(epochs):
        epoch = order[e * 3 : (e + 1) * 3].flatten()
        assert sorted(epoch[:n].tolist()) == list(range(n))  # one full permutation first ...
        assert len(set(epoch[n:].tolist())) == 12 - n  # ... then 2 distinct top-up samples


def test_batch_order_when_the_batch_exceeds_the_data():
    order = batch_order(3, 8, 1, torch.Generator().manual_seed(0))
    assert order.shape == (1, 8)
    assert sorted(order[0, :3].tolist()) == [0, 1, 2]


def _data(n=20):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_train_measured_runs_the_priced_steps_inside_one_window(tick_meter):
    x, y = _data(20)
    model = _model()
    batches = []
    model.register_forward_hook(lambda m, inp, out: batches.append(inp[0].shape[0]))
    before = [p.detach().clone() for p in model.parameters()]
    result = train_measured(model, x, y, adam=AdamParams(lr=0.01), epochs=2, batch_size=8, meter=tick_meter, warmup_steps=1)
    steps = 2 * math.ceil(20 / 8)  # 6
    assert result.steps == steps and result.samples == steps * 8
    # The hook is deep-copied with the model, so it also sees the one warm-up step and, after the
    # window, the denormal check's 3 rounds x 2 ways x 3 steps on its copy; every batch is full.
    assert batches == [8] * (steps + 1 + 18)
    assert tick_meter.reads == 2  # one window: a read before the steps, one after
    assert (result.energy_j, result.time_s) == (TICK_J, TICK_S)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert math.isfinite(result.final_loss)


def test_warm_up_leaves_the_trial_model_untouched(tick_meter):
    x, y = _data(20)
    a, b = _model(), _model()
    train_measured(a, x, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter, warmup_steps=0, seed=3)
    train_measured(b, x, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter, warmup_steps=2, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_adam_params_reach_the_optimizer():
    opt = AdamParams(lr=0.05, beta1=0.3, beta2=0.85, eps=1e-9, weight_decay=0.02).make(_model().parameters())
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (0.05, (0.3, 0.85), 1e-9, 0.02)


class _Constant(nn.Module):
    def forward(self, x):
        out = torch.zeros(x.shape[0], 3)
        out[:, 1] = 1.0
        return out


def test_evaluate_counts_correct_predictions():
    y = torch.tensor([1, 0, 1, 2, 1])
    # Always predicts class 1: 3 of 5 right; a batch size of 2 checks the chunking.
    assert evaluate(_Constant(), torch.zeros(5, 1), y, batch_size=2) == pytest.approx(3 / 5)


def test_subnormal_floats_are_counted_by_their_dtypes_smallest_normal_number():
    from green_estimate.validation.training import subnormal_count

    f32 = torch.tensor([0.0, 1e-39, -1e-40, 1e-30, 1.0, float("inf")])  # float32's smallest normal: 1.18e-38
    assert subnormal_count([f32]) == 2
    assert subnormal_count([f32.double()]) == 0  # normal numbers in float64
    assert subnormal_count([torch.tensor([1, 0, 3]), None, f32]) == 2  # integers and non-tensors count 0


def test_a_run_on_subnormal_values_says_so_and_one_on_normal_values_does_not(tick_meter):
    x, y = _data(20)
    normal = train_measured(_model(), x, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter)
    assert normal.subnormal_values == 0
    # inputs of 1e-39: the first layer's weight gradients (input x upstream gradient) come out subnormal
    tiny = train_measured(_model(), x * 1e-39, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter)
    assert tiny.subnormal_values > 0


def test_denormal_slowdown_is_the_median_ratio_of_alternating_timings_and_leaves_flushing_off():
    from green_estimate.validation.training import denormal_slowdown

    now, flushing, calls = [0.0], [False], []
    # seconds per timing of two steps, three rounds of (as run, flushed): ratios 2, 3 and 1
    timings = iter([2.0, 1.0, 3.0, 1.0, 1.0, 1.0])
    per_step = [0.0]

    def set_flush(on: bool) -> bool:
        flushing[0] = on
        return True

    def step(i: int) -> None:
        if i == 0:
            per_step[0] = next(timings) / 2
        calls.append((i, flushing[0]))
        now[0] += per_step[0]

    clock = lambda: now[0]  # noqa: E731
    assert denormal_slowdown(step, rounds=3, steps=2, set_flush=set_flush, clock=clock) == pytest.approx(2.0)
    assert flushing == [False]  # off again, as PyTorch starts
    assert calls == [(0, False), (1, False), (0, True), (1, True)] * 3
    assert denormal_slowdown(step, set_flush=lambda on: False, clock=clock) is None  # this CPU cannot flush them


def test_the_denormal_check_runs_on_a_copy_and_the_measured_model_is_untouched(tick_meter):
    x, y = _data(20)
    torch.manual_seed(0)
    checked = _model()
    torch.manual_seed(0)
    unchecked = _model()
    a = train_measured(checked, x, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter)
    b = train_measured(unchecked, x, y, adam=AdamParams(lr=0.01), epochs=1, batch_size=8, meter=tick_meter,
                       check_denormals=False)
    can_flush = torch.set_flush_denormal(True)  # False on a CPU that cannot flush them: no slowdown then
    torch.set_flush_denormal(False)
    assert (a.denormal_slowdown is not None and a.denormal_slowdown > 0) == can_flush and b.denormal_slowdown is None
    for p, q in zip(checked.parameters(), unchecked.parameters()):
        assert torch.equal(p, q)  # the same training, whatever the copy did after it
