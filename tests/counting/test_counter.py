"""The counted training step: phases, backward structure, meta vs real CPU tensors."""
from __future__ import annotations

import torch
import torch.nn as nn

from green_estimate.counting.counter import count_step, count_workload
from green_estimate.loading import Workload


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3),
    )


def signature(report):
    return [(o.op, o.cls, o.phase, o.module, o.flops, o.bytes_read, o.bytes_written) for o in report.ops]


def test_meta_counts_equal_real_cpu_counts():
    meta = count_step(cnn().to("meta"), (torch.empty(2, 3, 8, 8, device="meta"),), optimizer="adam")
    real = count_step(cnn(), (torch.randn(2, 3, 8, 8),), optimizer="adam")
    assert meta.device == "meta" and real.device == "cpu"
    assert signature(meta) == signature(real)
    assert meta.ignored_ops == real.ignored_ops


def test_first_layer_computes_no_input_gradient():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)).to("meta")
    r = count_step(model, (torch.empty(1, 3, 5, 5, device="meta"),), optimizer="none")
    fwd = {o.module: o.flops for o in r.ops if o.op == "aten.convolution"}
    bwd = {o.module: o.flops for o in r.ops if o.op == "aten.convolution_backward"}
    # layer 0: 4·5·5 outputs × 27 MACs × 2 = 5400 forward; backward = weight gradient only
    assert fwd["0"] == 2 * 100 * 27 == 5400
    assert bwd["0"] == fwd["0"]
    # layer 1: input gradient and weight gradient, each as costly as the forward
    assert fwd["1"] == 2 * 100 * 36 == 7200
    assert bwd["1"] == 2 * fwd["1"]


def test_phases_and_modules_are_recorded():
    r = count_step(cnn().to("meta"), (torch.empty(2, 3, 8, 8, device="meta"),), optimizer="sgd")
    phases = {o.phase for o in r.ops}
    assert phases == {"forward", "backward", "optimizer"}
    convs = [o for o in r.ops if o.op == "aten.convolution_backward"]
    assert [o.module for o in convs] == ["4", "0"]  # backward runs in reverse
    assert all(o.phase == "backward" for o in convs)
    # 3 conv/linear layers = 4 weight+bias tensor pairs → SGD touches 2 tensors per layer
    assert {o.cls for o in r.ops if o.phase == "optimizer"} == {"elementwise"}


def test_totals_are_sums_of_classes_and_phases():
    r = count_step(cnn().to("meta"), (torch.empty(2, 3, 8, 8, device="meta"),), optimizer="adam")
    d = r.to_dict()
    assert d["totals"]["flops"] == sum(c["flops"] for c in d["by_class"].values())
    assert d["totals"]["bytes"] == sum(p["bytes"] for p in d["by_phase"].values())
    for c in d["by_class"].values():
        assert c["ops"] == sum(p["ops"] for p in c["by_phase"].values())


def test_parameters_and_optimizer_none():
    r = count_step(cnn().to("meta"), (torch.empty(1, 3, 8, 8, device="meta"),), optimizer="none")
    # conv 3→4 k3: 108+4; bn: 4+4; conv 4→6 k3: 216+6; linear 6→5: 30+5; linear 5→3: 15+3
    assert r.parameters == 112 + 8 + 222 + 35 + 18
    assert not [o for o in r.ops if o.phase == "optimizer"]


def test_model_that_cannot_be_built_on_meta_is_built_on_cpu():
    def build():
        m = nn.Linear(4, 2)
        float(m.weight.sum())  # data-dependent: impossible on meta
        return m

    w = Workload(name="odd", build=build, input_shape=(4,))
    r = count_workload(w, batch_size=3, optimizer="none")
    assert r.device == "meta"
    assert any("built on the CPU" in n for n in r.notes)
    assert next(o for o in r.ops if o.op == "aten.addmm").flops == 2 * 3 * 4 * 2


def test_model_that_cannot_run_on_meta_is_counted_on_cpu():
    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            y = self.lin(x)
            if y.sum().item() > 1e9:  # Python control flow on a value
                y = y * 2
            return y

    r = count_workload(Workload(name="dd", build=DataDependent, input_shape=(4,)), batch_size=3, optimizer="none")
    assert r.device == "cpu"
    assert any("real CPU tensors" in n for n in r.notes)


PREBUILT_WITH_BUFFER = '''
import torch
import torch.nn as nn


class Positions(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("position_ids", torch.arange(100, 106), persistent=False)  # as BERT's
        self.emb = nn.Embedding(106, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        if self.position_ids.tolist() != list(range(100, 106)):  # data-dependent: cannot run on meta
            raise ValueError("the position ids lost their values")
        return self.head(self.emb(self.position_ids) + x)


model = Positions()
INPUT_SHAPE = (6, 4)
'''


def test_cpu_fallback_of_a_prebuilt_model_keeps_its_buffers(tmp_path):
    from green_estimate.counting.counter import count_model

    path = tmp_path / "positions.py"
    path.write_text(PREBUILT_WITH_BUFFER)
    r = count_model(str(path), batch_size=3, optimizer="sgd")
    assert any("Counted on real CPU tensors" in n for n in r.notes)
    head = [o for o in r.ops if o.phase == "forward" and o.cls == "linear"]
    # the head: 3·6 rows × 4 inputs × 2 outputs, 2 FLOPs per multiply-accumulate
    assert sum(o.flops for o in head) == 2 * 3 * 6 * 4 * 2


def test_cpu_fallback_of_a_module_object_keeps_its_buffers(tmp_path):
    import green_estimate as ge

    path = tmp_path / "positions.py"
    path.write_text(PREBUILT_WITH_BUFFER)
    namespace: dict = {}
    exec(compile(PREBUILT_WITH_BUFFER, str(path), "exec"), namespace)
    model = namespace["model"]
    r = ge.count(model, batch_size=3, input_shape=(6, 4), optimizer="sgd")
    assert any("Counted on real CPU tensors" in n for n in r.notes)
    head = [o for o in r.ops if o.phase == "forward" and o.cls == "linear"]
    assert sum(o.flops for o in head) == 2 * 3 * 6 * 4 * 2
    assert model.position_ids.tolist() == list(range(100, 106))  # the user's model is not changed


class _Lookups(nn.Module):
    """A word embedding (mean over the sequence) beside a bag of the same ids, as a text classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.bag = nn.EmbeddingBag(50, 8, mode="mean")
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.emb(x).mean(1), self.bag(x)], dim=1))


def test_embedding_ops_record_the_indices_they_look_up_forward_and_backward():
    batch, seq = 5, 7
    for device, x in (("meta", torch.empty(batch, seq, dtype=torch.long, device="meta")),
                      ("cpu", torch.randint(0, 50, (batch, seq)))):
        model = _Lookups().to(device) if device == "meta" else _Lookups()
        r = count_step(model, (x,), optimizer="sgd")
        lookups = {(o.op, o.phase): o.indices for o in r.ops if o.indices}
        # every id of the (batch, seq) input is looked up once by each table, in each direction
        assert lookups == {("aten.embedding", "forward"): batch * seq,
                           ("aten.embedding_dense_backward", "backward"): batch * seq,
                           ("aten._embedding_bag", "forward"): batch * seq,
                           ("aten._embedding_bag_backward", "backward"): batch * seq}, device
        assert all(o.indices == 0 for o in r.ops if o.cls != "embedding")
