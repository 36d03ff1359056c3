"""Each FLOP and byte formula against hand arithmetic on tiny shapes."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from green_estimate.counting.counter import count_step

F32 = 4  # bytes per float32


def ops(model, x, optimizer="none", phase=None):
    r = count_step(model.to("meta"), (x,), optimizer=optimizer)
    return [o for o in r.ops if phase is None or o.phase == phase]


def one(records, op):
    found = [r for r in records if r.op == op]
    assert len(found) == 1, [r.op for r in records]
    return found[0]


def test_conv_forward_flops_and_bytes():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    fwd = ops(conv, torch.empty(2, 3, 4, 4, device="meta"), phase="forward")
    r = one(fwd, "aten.convolution")
    # 2·8·4·4 = 256 outputs, each 3·3·3 = 27 MACs, 2 FLOPs per MAC
    assert r.flops == 2 * 256 * 27 == 13824
    # read input 2·3·4·4 + weight 8·3·3·3 + bias 8 floats; write 256 floats
    assert r.bytes_read == (96 + 216 + 8) * F32
    assert r.bytes_written == 256 * F32
    assert r.cls == "conv"


def test_grouped_conv_flops():
    conv = nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=False)
    r = one(ops(conv, torch.empty(1, 4, 5, 5, device="meta"), phase="forward"), "aten.convolution")
    # 8·5·5 = 200 outputs, each (4/4)·3·3 = 9 MACs
    assert r.flops == 2 * 200 * 9 == 3600


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_grouped_conv_backward_costs_twice_the_forward(groups):
    # PyTorch 2.13's formula prices the weight gradient of a grouped convolution over *all* input
    # channels (groups× too much); each gradient really costs one forward
    conv = nn.Conv2d(8, 16, 3, padding=1, groups=groups, bias=False)
    x = torch.empty(2, 8, 5, 5, device="meta", requires_grad=True)
    recs = count_step(nn.Sequential(conv).to("meta"), (x,), optimizer="none").ops
    fwd, bwd = one(recs, "aten.convolution"), one(recs, "aten.convolution_backward")
    # 2·16·5·5 = 800 outputs, each (8/groups)·3·3 MACs
    assert fwd.flops == 2 * 800 * (8 // groups) * 9
    assert bwd.flops == 2 * fwd.flops  # input and weight gradients
    assert fwd.conv_cin == bwd.conv_cin == 8 // groups


def test_first_conv_backward_has_no_input_gradient():
    conv = nn.Conv2d(3, 4, 3, groups=1, bias=False)
    recs = ops(conv, torch.empty(2, 3, 6, 6, device="meta"))
    # the input needs no gradient: only the weight's, one forward's worth (2·4·4·4 = 128 outputs · 27 MACs · 2)
    assert one(recs, "aten.convolution_backward").flops == one(recs, "aten.convolution").flops == 2 * 128 * 27


def test_transposed_grouped_conv_backward():
    conv = nn.ConvTranspose2d(8, 4, 2, stride=2, groups=2, bias=False)
    x = torch.empty(1, 8, 3, 3, device="meta", requires_grad=True)
    recs = count_step(nn.Sequential(conv).to("meta"), (x,), optimizer="none").ops
    # each of the 9 input pixels × 8 channels scatters into (4/2)·2·2 outputs: 9·8·8 MACs
    assert one(recs, "aten.convolution").flops == 2 * 9 * 8 * 8
    assert one(recs, "aten.convolution_backward").flops == 2 * 2 * 9 * 8 * 8


def test_linear_forward_is_addmm():
    lin = nn.Linear(5, 3)
    r = one(ops(lin, torch.empty(4, 5, device="meta"), phase="forward"), "aten.addmm")
    assert r.flops == 2 * 4 * 5 * 3  # 120
    assert r.bytes_read == (3 + 4 * 5 + 5 * 3) * F32  # bias + input + weight
    assert r.bytes_written == 4 * 3 * F32
    assert r.cls == "linear"


def test_relu_forward_and_backward_bytes():
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2))
    records = ops(model, torch.empty(4, 5, device="meta"))
    relu = one(records, "aten.relu")
    assert (relu.flops, relu.bytes_read, relu.bytes_written) == (24, 24 * F32, 24 * F32)  # 4·6 elements
    back = one(records, "aten.threshold_backward")
    assert back.phase == "backward" and back.cls == "relu"
    # reads the incoming gradient and the saved output (24 floats each), writes 24 floats
    assert (back.flops, back.bytes_read, back.bytes_written) == (24, 48 * F32, 24 * F32)


def test_maxpool_forward_counts_indices():
    pool = nn.Sequential(nn.Conv2d(2, 2, 1), nn.MaxPool2d(2))
    r = one(ops(pool, torch.empty(1, 2, 4, 4, device="meta"), phase="forward"), "aten.max_pool2d_with_indices")
    # output 1·2·2·2 = 8 values, each the max of a 2×2 window: 4 comparisons
    assert r.flops == 8 * 4
    assert r.bytes_read == 32 * F32
    assert r.bytes_written == 8 * F32 + 8 * 8  # values + int64 indices


@pytest.mark.parametrize("mode, taps, op", [("nearest", 0, "upsample_nearest2d"), ("bilinear", 4, "upsample_bilinear2d"),
                                             ("bicubic", 16, "upsample_bicubic2d")])
def test_upsampling_is_priced_as_pooling_by_its_taps(mode, taps, op):
    up = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Upsample(scale_factor=2, mode=mode))
    records = ops(up, torch.empty(1, 2, 3, 3, device="meta"))
    fwd, bwd = one(records, f"aten.{op}"), one(records, f"aten.{op}_backward")
    # 1·2·6·6 = 72 outputs from 18 inputs; each output weighs `taps` inputs: taps multiplies, taps - 1 adds
    assert fwd.cls == bwd.cls == "pool"
    assert fwd.flops == (72 * (2 * taps - 1) if taps else 0)
    assert (fwd.bytes_read, fwd.bytes_written) == (18 * F32, 72 * F32)
    # each of the 72 output gradients is scattered to its taps: one multiply and one add each
    assert bwd.flops == 72 * 2 * taps
    assert (bwd.bytes_read, bwd.bytes_written) == (72 * F32, 18 * F32)


def test_pixel_shuffle_is_a_copy():
    shuffle = nn.Sequential(nn.Conv2d(4, 4, 1), nn.PixelShuffle(2))
    records = ops(shuffle, torch.empty(1, 4, 3, 3, device="meta"))
    fwd, bwd = one(records, "aten.pixel_shuffle"), one(records, "aten.pixel_unshuffle")
    assert fwd.cls == bwd.cls == "copy" and fwd.flops == bwd.flops == 0
    assert fwd.bytes_read == fwd.bytes_written == 36 * F32


def test_batchnorm_training_forward_and_backward():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3))
    records = ops(model, torch.empty(2, 3, 2, 2, device="meta"))
    fwd = one(records, "aten.native_batch_norm")
    assert fwd.flops == 8 * 24 and fwd.cls == "norm"  # 2·3·2·2 = 24 elements, 8 FLOPs each
    bwd = one(records, "aten.native_batch_norm_backward")
    assert bwd.flops == 9 * 24


def test_softmax_and_nll_loss():
    model = nn.Linear(5, 10)
    records = ops(model, torch.empty(4, 5, device="meta"))
    assert one(records, "aten._log_softmax").flops == 5 * 40  # 4·10 logits
    assert one(records, "aten._log_softmax_backward_data").flops == 4 * 40
    assert one(records, "aten.nll_loss_forward").flops == 4  # one per target
    assert one(records, "aten.nll_loss_forward").cls == "loss"


def test_views_are_free_and_listed_as_ignored():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    r = count_step(model.to("meta"), (torch.empty(2, 3, 4, device="meta"),), optimizer="none")
    assert "aten.view" in r.ignored_ops
    assert all(o.op != "aten.view" for o in r.ops)


def test_unknown_op_counts_bytes_and_is_listed_uncounted():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return torch.special.i0(self.lin(x))  # Bessel function: no formula

    r = count_step(Odd().to("meta"), (torch.empty(3, 4, device="meta"),), optimizer="none")
    rec = [o for o in r.ops if o.op == "aten.special_i0" or o.op == "aten.i0"]
    assert rec and rec[0].flops == 0 and not rec[0].counted and rec[0].cls == "other"
    assert rec[0].bytes_read == 12 * F32 and rec[0].bytes_written == 12 * F32
    # the backward of i0 is i1, also without a formula
    assert r.uncounted_ops() == {"aten.i0": 1, "aten.special_i1": 1}


@pytest.mark.parametrize("name,per_element", [("adam", 11), ("adamw", 12), ("sgd", 3)])
def test_optimizer_phase_flops(name, per_element):
    lin = nn.Linear(5, 3)  # 15 + 3 = 18 parameters in 2 tensors
    opt = ops(lin, torch.empty(4, 5, device="meta"), optimizer=name, phase="optimizer")
    if name == "sgd":
        # momentum: buf·0.9 (1) + grad (1); param += −lr·buf (1)
        assert sum(o.flops for o in opt) == 3 * 18
    else:
        # Adam per element: lerp 3 + mul 1 + addcmul 2 + sqrt 1 + div 1 + add 1 + addcdiv 2 = 11;
        # AdamW adds the decoupled weight decay param·(1 − lr·wd) (1); +1 per tensor for the step count
        assert sum(o.flops for o in opt) == per_element * 18 + 2
    assert all(o.cls == "elementwise" for o in opt)


def test_embedding_bag_backward_is_an_embedding_op_of_one_add_per_index_and_column():
    bag = nn.Sequential(nn.EmbeddingBag(100, 6, mode="mean"), nn.Linear(6, 2))
    x = torch.zeros(4, 5, dtype=torch.long)
    r = one(ops(bag, x.to("meta"), optimizer="sgd", phase="backward"), "aten._embedding_bag_backward")
    assert r.cls == "embedding"          # not "other": priced with the gathers and scatters
    assert r.flops == 4 * 5 * 6          # 20 looked-up indices, 6 columns each


@pytest.mark.parametrize("conv, shape, dims, stride", [(nn.Conv1d(4, 8, 3), (2, 4, 9), 1, 1),
                                                       (nn.Conv2d(4, 8, 3, stride=(1, 2)), (2, 4, 9, 9), 2, 2),
                                                       (nn.Conv3d(4, 8, 3, stride=3), (2, 4, 6, 6, 6), 3, 3),
                                                       (nn.Conv1d(4, 8, 3, stride=2), (2, 4, 9), 1, 2),
                                                       # steps its output, not its input
                                                       (nn.ConvTranspose1d(4, 8, 2, 2), (2, 4, 9), 1, 1)])
def test_a_convolution_records_its_spatial_dimensions_and_stride_forward_and_backward(conv, shape, dims, stride):
    x = torch.empty(*shape, device="meta", requires_grad=True)
    recs = count_step(nn.Sequential(conv, nn.ReLU()).to("meta"), (x,), optimizer="none").ops
    fwd, bwd = one(recs, "aten.convolution"), one(recs, "aten.convolution_backward")
    assert (fwd.conv_dims, fwd.conv_stride) == (bwd.conv_dims, bwd.conv_stride) == (dims, stride)
    # the ReLU, the loss: not convolutions
    assert {(r.conv_dims, r.conv_stride) for r in recs if r.cls != "conv"} == {(0, 0)}
