"""GRUs and plain RNNs counted on meta for a CPU target run the ops a CPU runs (counting/cpu_recurrence.py).

The oracle is PyTorch itself: the same step counted on real CPU tensors, where ATen takes its CPU path.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from green_estimate.counting.counter import count_step

SEQ, BATCH, IN, HIDDEN = 7, 5, 12, 16


class Recurrent(nn.Module):
    def __init__(self, layer: type, **kwargs) -> None:
        super().__init__()
        self.rnn = layer(IN, HIDDEN, **kwargs)
        self.head = nn.Linear((kwargs.get("proj_size") or HIDDEN) * (2 if kwargs.get("bidirectional") else 1), 3)

    def forward(self, x):
        return self.head(self.rnn(x)[0].sum(1 if self.rnn.batch_first else 0))


def _report(device: str, layer: type, target: str = "cpu", **kwargs):
    torch.manual_seed(0)
    with torch.device(device):
        model = Recurrent(layer, **kwargs)
    x = torch.randn(SEQ, BATCH, IN, device=device)  # (seq, batch) or (batch, seq): both are counted as given
    return count_step(model, (x,), optimizer="adam", target=target)


def _ops(device: str, layer: type, target: str = "cpu", **kwargs) -> list:
    return _report(device, layer, target, **kwargs).ops


@pytest.mark.parametrize("layer, kwargs", [
    (nn.GRU, {}),
    (nn.GRU, {"batch_first": True, "num_layers": 2, "bidirectional": True}),
    (nn.GRU, {"num_layers": 3, "dropout": 0.2}),
    (nn.GRU, {"bias": False, "bidirectional": True, "num_layers": 2, "dropout": 0.5}),
    (nn.RNN, {"batch_first": True, "num_layers": 2}),
    (nn.RNN, {"nonlinearity": "relu", "bidirectional": True}),
    # an LSTM with a projection: a CPU runs it as cells, not as oneDNN's kernel
    (nn.LSTM, {"proj_size": 4}),
    (nn.LSTM, {"proj_size": 4, "num_layers": 2, "bidirectional": True, "batch_first": True, "dropout": 0.2}),
    (nn.LSTM, {"proj_size": 4, "bias": False}),
])
def test_a_meta_count_for_a_cpu_target_is_the_count_of_the_real_cpu_step(layer, kwargs):
    on_cpu, on_meta = _report("cpu", layer, **kwargs), _report("meta", layer, **kwargs)
    assert [dataclasses.asdict(o) for o in on_meta.ops] == [dataclasses.asdict(o) for o in on_cpu.ops]
    assert on_meta.ignored_ops == on_cpu.ignored_ops  # free views and allocations too: the same dispatches


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, False), (2, True)])
def test_a_cpu_target_projects_each_layers_input_once_and_other_targets_once_per_step(layers, bidirectional):
    def forward_gemms(target: str) -> int:
        ops = _ops("meta", nn.GRU, target=target, num_layers=layers, bidirectional=bidirectional)
        return sum(o.cls == "linear" and o.phase == "forward" and o.fused == "rnn" for o in ops)

    runs = layers * (2 if bidirectional else 1)  # (layer, direction) pairs
    assert forward_gemms("cpu") == runs * (1 + SEQ)  # the whole sequence's input once, the hidden state each step
    assert forward_gemms("cuda") == runs * 2 * SEQ  # input and hidden state each step, as the meta device runs it
    # the same FLOPs either way: only how the input GEMM is cut differs
    flops = {t: sum(o.flops for o in _ops("meta", nn.GRU, target=t, num_layers=layers, bidirectional=bidirectional)
                    if o.phase == "forward" and o.cls == "linear") for t in ("cpu", "cuda")}
    assert flops["cpu"] == flops["cuda"]


class Packed(nn.Module):
    """A recurrent layer over a packed batch of sequences of lengths 7, 4, 4, 2, 1 (with ``unsorted``:
    4, 7, 1, 4, 2, packed with ``enforce_sorted=False``), the padded output, its lengths and the final
    hidden state all used."""

    lengths = [SEQ, 4, 4, 2, 1]

    def __init__(self, layer: type, unsorted: bool = False, **kwargs) -> None:
        super().__init__()
        self.unsorted = unsorted
        self.rnn = layer(IN, HIDDEN, **kwargs)
        self.head = nn.Linear((kwargs.get("proj_size") or HIDDEN) * (2 if kwargs.get("bidirectional") else 1), 3)

    def forward(self, x):
        first = self.rnn.batch_first
        lengths = [4, SEQ, 1, 4, 2] if self.unsorted else self.lengths
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=first, enforce_sorted=not self.unsorted)
        out, h = self.rnn(packed)
        padded, back = pad_packed_sequence(out, batch_first=first)
        # the lengths come back in the batch's order: on meta too, where the unsorting indices are meta
        assert back.tolist() == lengths
        h = h[0] + h[1].sum() if isinstance(h, tuple) else h  # an LSTM's (h, c)
        return self.head(padded.sum(1 if first else 0)) + h.sum()


@pytest.mark.parametrize("layer, kwargs", [
    (nn.GRU, {}),
    (nn.GRU, {"num_layers": 2, "dropout": 0.3, "bidirectional": True}),
    (nn.GRU, {"batch_first": True, "bidirectional": True}),
    (nn.RNN, {"bias": False, "num_layers": 2}),
    (nn.RNN, {"nonlinearity": "relu", "bidirectional": True}),
    (nn.LSTM, {}),
    (nn.LSTM, {"num_layers": 2, "dropout": 0.3, "bidirectional": True, "batch_first": True}),
    (nn.LSTM, {"bias": False}),
    (nn.LSTM, {"proj_size": 4, "bidirectional": True}),
    (nn.GRU, {"unsorted": True}),
    (nn.LSTM, {"unsorted": True, "num_layers": 2, "bidirectional": True, "batch_first": True}),
])
def test_a_packed_sequence_is_counted_as_the_cpu_runs_it_too(layer, kwargs):
    counted = {}
    for device in ("cpu", "meta"):
        torch.manual_seed(0)
        with torch.device(device):
            model = Packed(layer, **kwargs)
        x = torch.randn(BATCH, SEQ, IN, device=device) if kwargs.get("batch_first") else torch.randn(SEQ, BATCH, IN, device=device)
        counted[device] = count_step(model, (x,), optimizer="adam")
    assert [dataclasses.asdict(o) for o in counted["meta"].ops] == [dataclasses.asdict(o) for o in counted["cpu"].ops]
    assert counted["meta"].ignored_ops == counted["cpu"].ignored_ops
    # the packed input (sum of the lengths rows) projected once per layer and direction; a packed LSTM
    # runs as cells on a CPU, so it is an `rnn` region as a GRU is
    runs = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    ops = counted["meta"].ops
    assert {o.fused for o in ops} == {"", "rnn"}
    input_gemms = [o for o in ops if o.phase == "forward" and o.fused and o.cls == "linear" and o.gemm_mnk[0] == sum(Packed.lengths)]
    assert len(input_gemms) == runs


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_an_lstm_with_a_projection_is_an_rnn_region_projecting_each_layers_input_once(layers, bidirectional):
    ops = _ops("meta", nn.LSTM, proj_size=4, num_layers=layers, bidirectional=bidirectional)
    assert {o.fused for o in ops} == {"", "rnn"}
    forward = [o for o in ops if o.phase == "forward" and o.fused == "rnn" and o.cls == "linear"]
    runs = layers * (2 if bidirectional else 1)
    # per layer and direction: the input once (SEQ × BATCH rows), then each step's hidden state (into
    # 4 × HIDDEN gates) and its projection (HIDDEN → 4)
    assert sum(o.gemm_mnk[0] == SEQ * BATCH for o in forward) == runs
    assert sum(o.gemm_mnk[:2] == (BATCH, 4 * HIDDEN) for o in forward) == runs * SEQ
    assert sum(o.gemm_mnk == (BATCH, 4, HIDDEN) for o in forward) == runs * SEQ
    assert len(forward) == runs * (1 + 2 * SEQ)


def test_unpacked_lstms_take_pytorchs_own_path_and_torch_vf_is_restored():
    before = (torch._VF.gru, torch._VF.rnn_tanh, torch._VF.rnn_relu, torch._VF.lstm)
    lstm = _ops("meta", nn.LSTM)  # a CPU runs it as one oneDNN kernel each way: an `lstm` region
    assert sum(o.cls == "linear" and o.phase == "forward" and o.fused == "lstm" for o in lstm) == 2 * SEQ
    assert (torch._VF.gru, torch._VF.rnn_tanh, torch._VF.rnn_relu, torch._VF.lstm) == before
