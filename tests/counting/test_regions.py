"""Fused regions and GEMM shapes: what the counter records beyond FLOPs and bytes."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from green_estimate.counting.counter import count_step
from green_estimate.counting.regions import scale_parts


def count(model: nn.Module, *shape: int, dtype=torch.float32):
    model = model.to("meta")
    x = torch.empty(*shape, device="meta", dtype=dtype)
    return count_step(model, (x,), optimizer="sgd")


class RNNNet(nn.Module):
    """A recurrent layer (``nn.GRU`` by default) of 4 → 8 and a linear head on its last step."""

    def __init__(self, layer: type = nn.GRU) -> None:
        super().__init__()
        self.rnn = layer(4, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def test_a_grus_forward_and_backward_ops_are_marked_rnn_and_the_head_is_not():
    report = count(RNNNet(), 2, 5, 4)
    rnn = [o for o in report.ops if o.fused == "rnn"]
    assert {o.phase for o in rnn} == {"forward", "backward"}
    # the head: one addmm forward, and its backward (two mm) outside the region
    head = [o for o in report.ops if not o.fused and o.cls == "linear"]
    assert [o.op for o in head].count("aten.addmm") == 1
    assert all(o.fused == "" for o in report.ops if o.phase == "optimizer")
    # the region's ops are priced twice over: the per-op terms of their models and the rest
    assert [(len(part), groups) for part, groups in scale_parts(rnn)] == [(len(rnn), (("rnn_var", "var"),
                                                                                   ("rnn_fixed", "fixed")))]
    # a profile made before that split scales the region's linear ops and its other ops
    by_class = {g: part for part, groups in scale_parts(rnn, split_by_class=True) for g, _ in groups}
    assert set(by_class) == {"rnn_linear", "rnn_other"}
    assert {o.cls for o in by_class["rnn_linear"]} == {"linear"} and "linear" not in {o.cls for o in by_class["rnn_other"]}
    assert len(by_class["rnn_linear"]) + len(by_class["rnn_other"]) == len(rnn)


def test_an_lstm_is_a_region_of_its_own():
    report = count(RNNNet(nn.LSTM), 2, 5, 4)
    lstm = [o for o in report.ops if o.fused]
    assert lstm and {o.fused for o in lstm} == {"lstm"} and {o.phase for o in lstm} == {"forward", "backward"}
    assert [(len(part), groups) for part, groups in scale_parts(lstm)] == [(len(lstm), (("lstm_flops", "flops"),))]
    assert {g for _, groups in scale_parts(lstm, split_by_class=True) for g, _ in groups} == {"lstm_linear", "lstm_other"}


def test_attention_math_is_marked_but_not_the_projections():
    layer = nn.MultiheadAttention(8, 2, batch_first=True)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.att = layer
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.att(x, x, x, need_weights=False)[0].mean(1))

    report = count(Net(), 2, 6, 8)
    marked = {o.op for o in report.ops if o.fused == "attention"}
    assert "aten.bmm" in marked and "aten.addmm" not in marked  # projections run as ordinary GEMMs
    assert any(o.fused == "attention" and o.phase == "backward" for o in report.ops)
    assert F.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"  # restored after counting


def test_a_plain_cnn_has_no_fused_ops():
    report = count(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)), 2, 1, 6, 6)
    assert all(o.fused == "" for o in report.ops)


def test_gemm_smallest_dimensions_by_hand():
    report = count(nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),                 # implicit GEMM: M = 4·8·8 = 256, N = 16, K = 3·9 = 27
        nn.Conv2d(16, 16, 3, padding=1, groups=16),     # depthwise: N = 1, K = 9
        nn.Conv2d(16, 32, 1, groups=4),                 # grouped: N = 32/4 = 8, K = 16/4 = 4
        nn.ConvTranspose2d(32, 8, 2, stride=2),         # weight (32, 8, 2, 2): K = 32·4 = 128, N = 8, M = 4·16·16
        nn.Flatten(), nn.Linear(8 * 16 * 16, 5),        # addmm (4 × 2048) @ (2048 × 5): min(4, 2048, 5) = 4
    ), 4, 3, 8, 8)
    forward = [(o.op, o.gemm_mnk, o.min_dim, o.depthwise) for o in report.ops if o.phase == "forward" and o.min_dim]
    assert forward == [("aten.convolution", (256, 16, 27), 16, False), ("aten.convolution", (256, 1, 9), 1, True),
                       ("aten.convolution", (256, 8, 4), 4, False), ("aten.convolution", (1024, 8, 128), 8, False),
                       ("aten.addmm", (4, 5, 2048), 4, False)]
    backward_convs = [(o.min_dim, o.depthwise) for o in report.ops if o.op == "aten.convolution_backward"]
    assert sorted(backward_convs) == sorted([(16, False), (1, True), (4, False), (8, False)])
    assert all(o.min_dim == 0 for o in report.ops if o.cls not in ("conv", "linear"))


def test_dropout_counted_for_cuda_is_the_fused_op_cuda_runs():
    # Linear(32→64), Dropout(0.2), Linear(64→10) at batch 8: the dropout sees 8×64 = 512 fp32 values
    def model():
        return nn.Sequential(nn.Linear(32, 64), nn.Dropout(0.2), nn.Linear(64, 10)).to("meta")

    x = torch.empty(8, 32, device="meta")
    names = lambda r: [o.op for o in r.ops]  # noqa: E731
    cpu = count_step(model(), (x,), optimizer="sgd")
    assert {"aten.bernoulli_", "aten.div_"} <= set(names(cpu)) and "aten.native_dropout" not in names(cpu)
    cuda = count_step(model(), (x,), optimizer="sgd", target="cuda")
    fwd = [o for o in cuda.ops if o.op == "aten.native_dropout"]
    bwd = [o for o in cuda.ops if o.op == "aten.native_dropout_backward"]
    assert len(fwd) == 1 and len(bwd) == 1 and "aten.bernoulli_" not in names(cuda)
    # forward: reads 512 × 4 B, writes the output (512 × 4 B) and the bool mask (512 B); 2 FLOPs a value
    assert (fwd[0].flops, fwd[0].nbytes) == (2 * 512, 512 * 4 + 512 * 4 + 512)
    # backward: reads the gradient and the mask, writes the input's gradient
    assert (bwd[0].flops, bwd[0].nbytes) == (2 * 512, 512 * 4 + 512 + 512 * 4)
    # eval mode and p = 0 have no dropout kernel at all, and the wrapper is gone after counting
    assert "aten.native_dropout" not in names(count_step(nn.Sequential(nn.Linear(32, 8), nn.Dropout(0.0)).to("meta"),
                                                         (x,), optimizer="sgd", target="cuda"))
    assert torch._VF.dropout is torch._C._VariableFunctions.dropout
