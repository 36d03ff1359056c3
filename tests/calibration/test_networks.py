"""The calibration's random networks: seeded, countable on meta, trainable on the CPU."""
from __future__ import annotations

import pytest
import torch

from green_estimate.calibration.incontext import count_network, make_step
from green_estimate.calibration.networks import FAMILIES, build_network
from green_estimate.calibration.networks_gpu import GPU_FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_counts_on_meta_and_trains_on_cpu(family):
    batch, ops, ignored, structure = count_network(family, 3, 4, "adam", max_step_flops=1e12)
    assert batch == 4 and len(ops) > 10 and structure["param_tensors"] > 0
    assert {o.phase for o in ops} == {"forward", "backward", "optimizer"}
    net = build_network(family, 3, "cpu")
    step = make_step(net.model, net.inputs(2, "cpu"), "sgd")
    before = [p.detach().clone() for p in net.model.parameters()]
    step()
    assert any(not torch.equal(a, p) for a, p in zip(before, net.model.parameters()))  # it really trained


def test_same_seed_same_network_other_seed_another():
    a = [(o.op, o.flops) for o in count_network("cnn", 5, 8, "adam")[1]]
    b = [(o.op, o.flops) for o in count_network("cnn", 5, 8, "adam")[1]]
    c = [(o.op, o.flops) for o in count_network("cnn", 6, 8, "adam")[1]]
    assert a == b and a != c


def test_a_step_over_the_cap_runs_at_a_smaller_batch():
    full = count_network("mlp", 2, 64, "adam", max_step_flops=1e15)
    batch, ops, _, _ = count_network("mlp", 2, 64, "adam", max_step_flops=sum(o.flops for o in full[1]) / 3)
    assert batch == 16  # 64 → 32 → 16: the first batch whose step is under a third of batch 64's


@pytest.mark.parametrize("family", GPU_FAMILIES)
def test_the_gpu_suites_device_bound_families_count_on_meta_and_train(family):
    # sized for a GPU: at the smallest batch of any of them in suite_gpu.toml (16) a step is more
    # FLOPs than any CPU family's at batch 8 (or the smaller batch the CPU suite's step cap leaves:
    # a language model's head over 32,000 tokens at 2 sequences); counted for a CUDA target (the
    # multi-tensor optimizer), trained here at batch 1
    batch, ops, _, structure = count_network(family, 3, 16, "adam", max_step_flops=4e12, target="cuda")
    small = max(sum(o.flops for o in count_network(f, 3, 8, "adam")[1]) for f in FAMILIES)
    assert batch == 16 and sum(o.flops for o in ops) > small and structure["param_tensors"] > 0
    assert any(o.op.startswith("aten._foreach_") for o in ops if o.phase == "optimizer")
    net = build_network(family, 3, "cpu")
    assert net.family == family
    step = make_step(net.model, net.inputs(1, "cpu"), "sgd")
    before = [p.detach().clone() for p in net.model.parameters()]
    step()
    assert any(not torch.equal(a, p) for a, p in zip(before, net.model.parameters()))


def test_the_seq_family_draws_1d_convolutions_of_every_style_it_names():
    import torch.nn as nn

    modules, styles = [], set()
    for seed in range(1, 41):
        model = build_network("seq", seed, "meta").model
        styles.add("tokens" if model.emb is not None else "signal")
        styles.add("branches" if model.branches is not None else "stack")
        modules += list(model.modules())
    assert {"tokens", "signal", "branches", "stack"} <= styles
    assert not any(isinstance(m, (nn.Conv2d, nn.Conv3d)) for m in modules)
    convs = [m for m in modules if isinstance(m, nn.Conv1d)]
    assert any(c.groups == c.in_channels > 1 for c in convs)          # depthwise (separable stacks)
    assert any(c.dilation[0] > 1 for c in convs)                      # dilated (TCN-like)
    assert any(c.stride[0] == 2 for c in convs)
    assert {1, 15} <= {c.kernel_size[0] for c in convs}
    ops = count_network("seq", 4, 8, "adam")[1]
    assert {o.conv_dims for o in ops if o.cls == "conv"} == {1}


def test_the_gpu_suite_draws_every_family_the_cpu_suite_draws():
    # the same in-context data on CUDA as on a CPU: a family only the CPU suite had would leave a
    # GPU profile without its ops' shapes (the seq family was one, until this test)
    from green_estimate.calibration.cases import load_suite

    for quick in (True, False):
        cpu = {c.p()["family"] for c in load_suite(quick=quick).cases}
        gpu = {c.p()["family"] for c in load_suite(quick=quick, gpu=True).cases}
        assert cpu - {"reference"} <= gpu and set(FAMILIES) <= cpu and set(GPU_FAMILIES) <= gpu


def test_the_tiny_family_draws_small_steps_of_mlps_and_convnets():
    # its steps are the work between ops: at the largest batch it is drawn at (64), no draw does more
    # than 50 MFLOP (a 3×3 conv over 64 channels of 32×32 images at batch 64 alone does 4,800)
    kinds = set()
    for seed in range(1, 61):
        model = build_network("tiny", seed, "meta").model
        kinds.add(type(model[0]).__name__)
        assert sum(p.numel() for p in model.parameters()) <= 120_000
        assert sum(o.flops for o in count_network("tiny", seed, 64, "adam")[1]) <= 50e6
    assert kinds == {"Linear", "Conv2d"}
