"""--precision: autocast emulated on the meta device, bytes following each op's dtype, fp16's scaler."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from green_estimate.counting.counter import count_step, record_ops
from green_estimate.counting.precision import CPU_POLICY, CUDA_POLICY, autocast_emulation
from green_estimate.errors import UsageError


def _seq(ops):
    return [(o.op, o.dtype) for o in ops]


def _clear_grads(*modules_or_tensors):
    for m in modules_or_tensors:
        if isinstance(m, nn.Module):
            m.zero_grad(set_to_none=True)
        else:
            m.grad = None


class Block(nn.Module):
    """Conv, batch norm, ReLU, pooling, a transformer layer (attention, layer norm, GELU), a head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", batch_first=True)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))  # (N, 8, 4, 4)
        h = self.layer(h.flatten(2).transpose(1, 2))  # (N, 16, 8)
        return self.head(h.softmax(-1).mean(1))


def test_cpu_emulation_runs_the_ops_real_cpu_autocast_runs_in_the_same_dtypes():
    """The emulation on real CPU tensors against torch.autocast('cpu'): same aten ops, same dtypes."""
    torch.manual_seed(0)
    model, x = Block(), torch.randn(2, 3, 4, 4)
    target = torch.zeros(2, dtype=torch.long)

    def step(ctx):
        def run():
            with ctx():
                loss = nn.functional.cross_entropy(model(x), target)
            loss.backward()
        return run

    real, _ = record_ops(step(lambda: torch.autocast("cpu", dtype=torch.bfloat16)))
    _clear_grads(model)
    emulated, _ = record_ops(step(lambda: autocast_emulation("bf16", "cpu")))
    assert sorted(_seq(emulated)) == sorted(_seq(real))
    assert ("aten.convolution", "bfloat16") in _seq(real) and ("aten.nll_loss_forward", "float32") in _seq(real)


def test_a_group_norm_under_cpu_autocast_is_counted_on_meta_with_the_casts_a_cpu_runs():
    """GroupNorm is in no CPU autocast list: it runs on the bf16 activation with float32 weights. Its backward's
    meta kernel returned that activation's gradient in float32 (a CPU returns bf16), so autograd cast it on
    meta: a cast of a whole activation that no real step runs. The meta count now has the real step's casts."""
    import copy

    from green_estimate.calibration.incontext import make_step

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8), nn.GELU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 5))
    x = torch.randn(2, 3, 8, 8)
    meta = count_step(copy.deepcopy(model).to("meta"), (x.to("meta"),), optimizer="none", precision="bf16",
                      target="cpu")
    real, _ = record_ops(make_step(model, (x,), "none", precision="bf16"))  # real CPU autocast, same step

    def casts(ops):
        return sorted((o.dtype, o.bytes_read, o.bytes_written) for o in ops if o.op == "aten._to_copy")

    assert casts(meta.ops) == casts(real)
    assert ("float32", 2 * 8 * 6 * 6 * 4, 2 * 8 * 6 * 6 * 2) not in casts(meta.ops)  # the activation's gradient
    assert sorted(_seq(meta.ops)) == sorted(_seq(real))  # the same ops in the same dtypes
    gn_backward = next(o for o in meta.ops if o.op == "aten.native_group_norm_backward")
    assert gn_backward.dtype == "bfloat16"


def test_gemms_read_and_write_half_the_bytes_and_the_weight_cast_is_counted():
    model = nn.Linear(64, 32).to("meta")
    x = torch.empty(8, 64, device="meta")
    r = count_step(model, (x,), optimizer="sgd", precision="bf16", target="cuda")
    addmm = [o for o in r.ops if o.op == "aten.addmm"]
    assert len(addmm) == 1 and addmm[0].dtype == "bfloat16"
    assert addmm[0].bytes_read == (32 + 8 * 64 + 64 * 32) * 2  # bias, input, weight in bf16
    assert addmm[0].bytes_written == 8 * 32 * 2
    casts = [o for o in r.ops if o.op == "aten._to_copy" and o.phase == "forward"]
    # input, weight and bias cast to bf16 (4 bytes read, 2 written each), logits back to fp32 for the loss
    assert sum(o.bytes_read for o in casts) == (8 * 64 + 64 * 32 + 32) * 4 + 8 * 32 * 2
    fp32 = count_step(nn.Linear(64, 32).to("meta"), (x,), optimizer="sgd", precision="fp32", target="cuda")
    assert [o for o in fp32.ops if o.op == "aten.addmm"][0].bytes_read == (32 + 8 * 64 + 64 * 32) * 4
    assert r.precision == "bf16" and fp32.precision == "fp32"
    # the optimizer updates float32 weights either way
    assert {o.dtype for o in r.ops if o.phase == "optimizer"} == {"float32"}


def test_cuda_lists_put_layer_norm_softmax_and_the_loss_in_float32():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin, self.norm = nn.Linear(16, 16), nn.LayerNorm(16)

        def forward(self, x):
            return self.norm(self.lin(x)).softmax(-1)

    x = torch.empty(4, 16, device="meta")
    cuda = count_step(Net().to("meta"), (x,), optimizer="none", precision="fp16", target="cuda")
    cpu = count_step(Net().to("meta"), (x,), optimizer="none", precision="fp16", target="cpu")
    dtype = lambda r, op: next(o.dtype for o in r.ops if o.op == op and o.phase == "forward")  # noqa: E731
    assert dtype(cuda, "aten.addmm") == dtype(cpu, "aten.addmm") == "float16"
    assert dtype(cuda, "aten.native_layer_norm") == "float32"  # AT_FORALL_FP32 on CUDA
    assert dtype(cpu, "aten.native_layer_norm") == "float16"  # not in CPU autocast's lists
    assert CUDA_POLICY["layer_norm"] == "fp32" and "layer_norm" not in CPU_POLICY


def test_a_tied_weight_is_cast_once_per_forward():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8, bias=False)

        def forward(self, x):
            return self.a(self.a(x))

    r = count_step(Tied().to("meta"), (torch.empty(2, 8, device="meta"),), optimizer="none", precision="bf16",
                   target="cuda")
    weight_casts = [o for o in r.ops if o.op == "aten._to_copy" and o.phase == "forward" and o.bytes_read == 8 * 8 * 4]
    assert len(weight_casts) == 1  # autocast's cast cache: the weight is cast once, the input once


def test_fp16_adds_the_gradient_scalers_ops_and_bf16_does_not():
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    x = torch.empty(4, 10, device="meta")
    fp16 = count_step(model.to("meta"), (x,), optimizer="adam", precision="fp16", target="cuda")
    bf16 = count_step(model.to("meta"), (x,), optimizer="adam", precision="bf16", target="cuda")
    n = 10 * 20 + 20 + 20 * 3 + 3  # 283 parameters, float32 gradients
    unscale = [o for o in fp16.ops if o.op == "aten._amp_foreach_non_finite_check_and_unscale_"]
    assert len(unscale) == 1 and unscale[0].phase == "optimizer" and unscale[0].cls == "elementwise"
    assert unscale[0].flops == 2 * n  # a multiply and a finiteness test per gradient element
    assert unscale[0].bytes_read == 4 * n + 4 + 4  # the gradients, found_inf, inv_scale
    assert unscale[0].bytes_written == 4 * n  # the gradients, unscaled in place
    assert len([o for o in fp16.ops if o.op == "aten._amp_update_scale_"]) == 1
    assert not [o for o in bf16.ops if o.op.startswith("aten._amp_")]
    assert any("gradient scaler" in n for n in fp16.notes)


def test_tf32_counts_like_fp32_and_a_bad_precision_is_one_line():
    model = nn.Linear(6, 4).to("meta")
    x = torch.empty(3, 6, device="meta")
    a = count_step(model, (x,), optimizer="adam", precision="tf32", target="cuda")
    b = count_step(model, (x,), optimizer="adam", precision="fp32", target="cuda")
    assert [(o.op, o.flops, o.nbytes) for o in a.ops] == [(o.op, o.flops, o.nbytes) for o in b.ops]
    assert a.precision == "tf32" and a.to_dict()["precision"] == "tf32"
    with pytest.raises(UsageError, match=r"--precision 'fp8': use one of fp32, tf32, bf16, fp16"):
        count_step(model, (x,), precision="fp8")


def test_a_gpu_count_runs_the_optimizers_multi_tensor_update_as_cuda_does():
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(5)])  # 10 parameter tensors
    x = torch.empty(2, 4, device="meta")
    gpu = count_step(model.to("meta"), (x,), optimizer="adam", target="cuda")
    cpu = count_step(model.to("meta"), (x,), optimizer="adam", target="cpu")
    gpu_opt = [o for o in gpu.ops if o.phase == "optimizer"]
    cpu_opt = [o for o in cpu.ops if o.phase == "optimizer"]
    assert all(o.op.startswith("aten._foreach_") for o in gpu_opt)
    assert len(cpu_opt) >= 10 * len(gpu_opt) - 10  # one op per tensor instead of one per update
    # the same arithmetic and traffic either way, in fewer launches
    assert sum(o.flops for o in gpu_opt) == sum(o.flops for o in cpu_opt)
    assert sum(o.nbytes for o in gpu_opt) == pytest.approx(sum(o.nbytes for o in cpu_opt), abs=8)  # a scalar operand apart


def test_autocast_uses_the_one_in_place_predicate_and_decides_as_the_old_check():
    # precision.py used its own check (`endswith("_") and not endswith("__")`): with is_in_place the
    # emulation must pass through (not cast) exactly the same calls, on every name it can see
    # (torch's functions and methods, its policy's ops and their in-place twins) and on every
    # registered aten op
    import torch.nn.functional as F

    from green_estimate.counting.classes import is_in_place
    from green_estimate.counting.precision import CPU_POLICY, CUDA_POLICY
    from green_estimate.counting.registry import declared

    names = {*CPU_POLICY, *CUDA_POLICY, *declared(), *dir(torch), *dir(torch.Tensor), *dir(F), *dir(torch.ops.aten)}
    names |= {n + "_" for n in (*CPU_POLICY, *CUDA_POLICY)}
    for policy in (CPU_POLICY, CUDA_POLICY):
        old = {n for n in names if policy.get(n) is None or n.endswith("_") and not n.endswith("__")}
        assert {n for n in names if policy.get(n) is None or is_in_place(n)} == old
    registered = set(declared())
    assert {n for n in registered if is_in_place(n)} == {n for n in registered if n.endswith("_") and not n.endswith("__")}
    assert is_in_place("add_") and not is_in_place("__iadd__") and not is_in_place("addmm")
