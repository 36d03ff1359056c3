"""Small integer tensors on meta keep their values beside them (counting/shadow.py), and a CPU step's
`.to(device)` of a CPU tensor is no op."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from green_estimate.counting.counter import count_step, count_workload
from green_estimate.counting.mode import _NoModules, make_mode
from green_estimate.counting.shadow import MAX_ELEMENTS
from green_estimate.loading import Workload


def test_indices_moved_to_meta_and_inverted_there_come_back_with_their_values():
    mode = make_mode()(_NoModules(), "")
    with mode:
        perm = torch.tensor([2, 0, 3, 1]).to("meta")
        inverse = torch.empty_like(perm)
        inverse.scatter_(0, perm, torch.arange(0, 4, device="meta"))  # torch.nn.utils.rnn.invert_permutation
        back = inverse.cpu()
    assert back.tolist() == [1, 3, 0, 2]  # inverse[perm[i]] = i
    # no extra dispatch for following them: the same ops, and no more free ones, as without a copy back
    # (the copy to meta is none on a CPU, the mode's default target)
    assert [o.op for o in mode.ops] == ["aten.arange", "aten.scatter_"]
    assert dict(mode.ignored) == {"aten.lift_fresh": 1, "aten.empty_like": 1}


def test_values_are_followed_through_ops_on_lists_of_tensors():
    mode = make_mode()(_NoModules(), "")
    with mode:
        a, b = torch.tensor([3, 1]).to("meta"), torch.tensor([2]).to("meta")
        both = torch.cat([a, b])
        stacked = torch.stack([a, a + 1])
        assert both.cpu().tolist() == [3, 1, 2] and stacked.cpu().tolist() == [[3, 1], [4, 2]]


def test_large_or_floating_tensors_are_not_followed():
    mode = make_mode()(_NoModules(), "")
    with mode, pytest.raises(NotImplementedError):
        torch.zeros(MAX_ELEMENTS + 1, dtype=torch.long).to("meta").cpu()
    with mode, pytest.raises(NotImplementedError):
        torch.randn(3).to("meta").cpu()


class MovesAMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(x) * torch.ones(8).to(x.device)  # a CPU tensor moved to the step's device


@pytest.mark.parametrize("target, copies", [("cpu", 0), ("cuda", 1)])
def test_a_cpu_tensor_moved_to_the_device_is_a_copy_on_a_gpu_only(target, copies):
    with torch.device("meta"):
        model = MovesAMask()
    report = count_step(model, (torch.randn(4, 8, device="meta"),), optimizer="sgd", target=target)
    assert sum(o.op == "aten._to_copy" for o in report.ops) == copies
    with torch.device("cpu"):  # the same step on CPU tensors runs no copy at all
        real = count_step(MovesAMask(), (torch.randn(4, 8),), optimizer="sgd", target="cpu")
    assert not any(o.op == "aten._to_copy" for o in real.ops)


def test_a_batch_packed_unsorted_is_counted_on_meta_not_on_cpu_tensors():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Unsorted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(6, 8, batch_first=True)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            packed = pack_padded_sequence(x, torch.tensor([2, 5, 3]), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
            return self.head(out.sum(1))

    report = count_workload(Workload(name="unsorted", build=Unsorted, input_shape=(5, 6)), batch_size=3)
    assert report.device == "meta" and not any("real CPU tensors" in n for n in report.notes)


class LengthsFromIds(nn.Module):
    """A padded batch of token ids (0 = padding) whose lengths the model computes itself, as NLP code does."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 6, padding_idx=0)
        self.rnn = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, ids):
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        lengths = (ids != 0).sum(1).cpu()
        packed = pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        out, back = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
        assert back.tolist() == lengths.tolist()
        return self.head(out.sum(1))


def _padded_ids(batch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 50, (batch, 9), generator=g)
    for i in range(batch):
        ids[i, 2 + (5 * i) % 7:] = 0  # lengths 2..8, unsorted
    return ids


def test_lengths_a_model_computes_from_its_ids_come_back_on_meta():
    report = count_workload(Workload(name="ids", build=LengthsFromIds, example_input=_padded_ids), batch_size=5)
    assert report.device == "meta" and not any("real CPU tensors" in n for n in report.notes)
    torch.manual_seed(0)
    real = count_step(LengthsFromIds(), (_padded_ids(5),), optimizer="adam", name="ids", batch_size=5)
    assert [(o.op, o.phase, o.flops, o.bytes_read, o.bytes_written) for o in report.ops] == \
        [(o.op, o.phase, o.flops, o.bytes_read, o.bytes_written) for o in real.ops]
    assert report.ignored_ops == real.ignored_ops  # nothing dispatched for following the lengths


def test_a_number_read_from_followed_values_is_dispatched_as_on_a_cpu():
    def step(ids):
        return int((ids != 0).sum(1).max().item())

    counts = {}
    for device in ("cpu", "meta"):
        mode = make_mode()(_NoModules(), "")
        ids = _padded_ids(5)
        with mode:
            value = step(ids.to(device) if device == "meta" else ids)
        counts[device] = (value, [o.op for o in mode.ops], dict(mode.ignored))
    assert counts["meta"][0] == counts["cpu"][0] == 8
    assert counts["meta"][1] == counts["cpu"][1] and counts["meta"][2] == counts["cpu"][2]


def test_integer_inputs_made_from_input_shape_keep_values_on_meta():
    class Lengths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(40, 4)

        def forward(self, ids):
            n = int((ids[:, 0] >= 0).sum().cpu())  # the values back on the CPU
            return self.emb(ids[:, : (ids[:, 1] >= 0).sum().item() + n - 3]).sum(1)  # and as a number

    w = Workload(name="shape", build=Lengths, input_shape=(7,), input_dtype=torch.long)
    report = count_workload(w, batch_size=3)
    assert report.device == "meta" and not any("real CPU tensors" in n for n in report.notes)


@pytest.mark.parametrize("padded", [True, False])
def test_a_transformers_model_given_an_attention_mask_counts_on_meta_as_on_cpu_tensors(padded):
    """transformers reads the mask's values (is it all ones? then no mask): on meta they are followed."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128)

    def example(batch: int) -> dict:
        g = torch.Generator().manual_seed(0)
        mask = torch.ones(batch, 32, dtype=torch.long)
        if padded:
            mask[0, 20:] = 0
        return {"input_ids": torch.randint(1, 1000, (batch, 32), generator=g), "attention_mask": mask,
                "labels": torch.zeros(batch, dtype=torch.long)}

    build = lambda: transformers.BertForSequenceClassification(cfg)  # noqa: E731
    report = count_workload(Workload(name="bert", build=build, example_input=example), batch_size=8, target="cpu")
    assert report.device == "meta" and not any("real CPU tensors" in n for n in report.notes)
    torch.manual_seed(0)
    real = count_step(build(), (), kwargs=example(8), target="cpu")
    assert [(o.op, o.flops, o.nbytes) for o in report.ops] == [(o.op, o.flops, o.nbytes) for o in real.ops]
    assert report.ignored_ops == real.ignored_ops  # (an all-ones mask is skipped on both: fewer ops)


def test_lengths_copied_to_the_cpu_are_a_copy_counted_for_a_gpu_and_none_for_a_cpu():
    copies = {}
    for target in ("cpu", "cuda"):
        report = count_workload(Workload(name="ids", build=LengthsFromIds, example_input=_padded_ids), batch_size=5,
                                target=target)
        copies[target] = [o for o in report.ops if o.op == "aten._to_copy" and o.phase == "forward"]
    assert copies["cpu"] == []
    # from the device: the lengths (5 int64), and the sorting indices to it and the unsorting ones back
    assert [o.bytes_written for o in copies["cuda"]] == [40, 40, 40]
