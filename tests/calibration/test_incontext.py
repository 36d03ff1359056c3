"""Matching profiler events to counted ops: the in-context times calibration fits."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from green_estimate.calibration import incontext
from green_estimate.calibration import profiler_events
from green_estimate.calibration.incontext import op_record, settled_step_s, _row
from green_estimate.calibration.profiler_events import assign_times, match_cpu_events, match_events, match_key
from green_estimate.meters.base import Reading
from green_estimate.counting.report import OpRecord


@dataclass
class Event:
    """The members of torch.profiler's FunctionEvent that matching reads."""

    name: str
    start_us: float
    cpu_time_total: float
    device_time_total: float = 0.0
    cpu_children: list = field(default_factory=list)
    cpu_parent: object = None

    @property
    def time_range(self):
        return SimpleNamespace(start=self.start_us)


def tree(root: Event, *children: Event) -> list[Event]:
    for c in children:
        c.cpu_parent = root
        root.cpu_children.append(c)
    return [root, *children]


def op(name: str, cls: str = "linear") -> OpRecord:
    return OpRecord(f"aten.{name}", cls, "forward", "", 10, 20, 0)


def test_in_place_twins_share_a_key():
    assert match_key("add_") == "add" and match_key("add") == "add" and match_key("__and__") == "__and__"


def test_outermost_matching_event_takes_its_childrens_time():
    # aten::linear is not counted (the meta device sees its decomposition): descend into it.
    # aten::convolution is counted: its time (25 µs) includes _convolution's, which is not taken again.
    events = (tree(Event("aten::linear", 0, 30.0), Event("aten::t", 1, 2.0), Event("aten::addmm", 3, 26.0))
              + tree(Event("aten::convolution", 40, 25.0), Event("aten::convolution", 41, 20.0))
              + [Event("Optimizer.step#Adam.step", 80, 5.0), Event("aten::add_", 90, 3.0), Event("aten::add", 95, 4.0)])
    got = match_events(events, {"addmm", "convolution", "add"})
    assert got == {"addmm": [pytest.approx(26e-6)], "convolution": [pytest.approx(25e-6)],
                   "add": [pytest.approx(3e-6), pytest.approx(4e-6)]}


def test_device_time_is_taken_on_cuda():
    got = match_events([Event("aten::mm", 0, 50.0, device_time_total=7.0)], {"mm"}, device_time=True)
    assert got == {"mm": [7e-6]}



@dataclass
class RawEvent:
    """The members of a raw profiler event (``_KinetoEvent``) that :func:`match_cpu_events` reads."""

    ev_name: str
    start: int  # ns
    end: int
    thread: int = 1
    device: str = "CPU"
    is_async_: bool = False
    end_thread: int | None = None

    def name(self): return self.ev_name
    def start_ns(self): return self.start
    def end_ns(self): return self.end
    def start_thread_id(self): return self.thread
    def end_thread_id(self): return self.thread if self.end_thread is None else self.end_thread
    def is_async(self): return self.is_async_
    def is_hidden_event(self): return False

    def device_type(self):
        from torch.autograd import DeviceType

        return getattr(DeviceType, self.device)


def test_raw_events_nest_by_time_and_the_outermost_match_takes_its_time():
    # the same step as test_outermost_matching_event_takes_its_childrens_time, as raw events (ns from
    # a trace start of 1000 ns), listed out of order, with events matching must skip
    events = [
        RawEvent("aten::addmm", 4_000, 30_000), RawEvent("aten::linear", 1_000, 31_000), RawEvent("aten::t", 2_000, 4_000),
        RawEvent("aten::convolution", 42_000, 62_000), RawEvent("aten::convolution", 41_000, 66_000),
        RawEvent("Optimizer.step#Adam.step", 81_000, 86_000), RawEvent("aten::add_", 91_000, 94_000),
        RawEvent("aten::add", 96_000, 100_000),
        RawEvent("aten::add", 101_000, 108_000, thread=2),        # another thread: its own nesting
        RawEvent("aten::add", 110_000, 190_000, is_async_=True),   # async: left out, as torch does
        RawEvent("aten::add", 120_000, 121_000, device="CUDA"),    # a device event: not a CPU op
        RawEvent("aten::add", 130_000, 131_000, end_thread=3),     # ends on another thread: async
        RawEvent("aten::_version", 96_500, 97_000),                # a utility event torch's list drops
    ]
    got = match_cpu_events(events, {"addmm", "convolution", "add", "_version"}, trace_start_ns=1_000)
    assert got == {"addmm": [pytest.approx(26e-6)], "convolution": [pytest.approx(25e-6)],
                   "add": [pytest.approx(3e-6), pytest.approx(4e-6), pytest.approx(7e-6)]}


def test_raw_events_give_what_torchs_event_tree_gives_on_a_real_step():
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10))
    step = incontext.make_step(model, (torch.randn(4, 3, 8, 8),), "adam")
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    keys = {"convolution", "convolution_backward", "native_batch_norm", "native_batch_norm_backward", "relu",
            "threshold_backward", "addmm", "mm", "add", "mul", "_foreach_add", "_log_softmax", "nll_loss_forward"}
    fast = profiler_events.profiled_times(prof, keys, "cpu")
    assert sum(len(v) for v in fast.values()) >= 8  # matched something real: conv, norm, relu, addmm, ...
    assert dict(fast) == dict(match_events(prof.events(), keys))

def test_kth_op_takes_kth_event_and_the_median_over_steps():
    ops = [op("mm"), op("relu", "relu"), op("mm")]
    steps = [{"mm": [1.0, 3.0], "relu": [0.5]}, {"mm": [2.0, 5.0], "relu": [0.7]}, {"mm": [9.0, 4.0], "relu": [0.6]}]
    assert assign_times(ops, steps) == [2.0, 0.6, 4.0]  # medians of (1, 2, 9), (0.5, 0.7, 0.6), (3, 5, 4)


def test_a_key_run_another_number_of_times_is_unmatched_in_that_step():
    ops = [op("mm"), op("mm"), op("relu", "relu")]
    steps = [{"mm": [1.0, 2.0], "relu": [0.5]}, {"mm": [1.0], "relu": [0.7]}]  # step 2 ran one mm
    assert assign_times(ops, steps) == [1.0, 2.0, pytest.approx(0.6)]
    assert assign_times(ops, [{"mm": [3.0], "relu": [0.5]}]) == [None, None, 0.5]


def test_stored_rows_round_trip():
    o = OpRecord("aten.convolution", "conv", "backward", "", 123, 456, 78, True, 3, 8, True, "", (512, 8, 72), 8)
    back = op_record(_row(o, 1e-3))
    assert (back.op, back.cls, back.phase, back.flops, back.nbytes, back.bytes_written, back.outputs, back.min_dim,
            back.depthwise, back.fused, back.gemm_mnk, back.conv_cin) == (
        "aten.convolution", "conv", "backward", 123, 534, 78, 3, 8, True, "", (512, 8, 72), 8)
    e = OpRecord("aten.embedding_dense_backward", "embedding", "backward", "", 64, 10, 20, indices=4096)
    assert op_record(_row(e, 1e-3)).indices == 4096
    c1 = OpRecord("aten.convolution", "conv", "forward", "", 64, 10, 20, gemm_mnk=(9, 8, 12), conv_cin=4, conv_dims=1,
                  conv_stride=2)
    back = op_record(_row(c1, 1e-3))
    assert (back.conv_dims, back.conv_stride) == (1, 2)


def test_rows_of_older_samples_files_read_with_zero_for_later_fields():
    row = ["aten.mm", "linear", "forward", 10, 20, 1, 2, 3, 4, 0, "", 1e-3]  # written before bytes_written existed
    back = op_record(row)
    assert back.nbytes == 20 and back.bytes_written == 0 and back.conv_cin == 0 and back.indices == 0
    before_indices = [*row, 5, 8]  # bytes_written and conv_cin, written before indices existed
    back = op_record(before_indices)
    assert (back.bytes_written, back.conv_cin, back.indices) == (5, 8, 0)
    before_dims = [*before_indices, 7]  # written before conv_dims existed: its convolutions read as not 1-D
    back = op_record(before_dims)
    assert (back.indices, back.conv_dims, back.conv_stride) == (7, 0, 0)


def test_cudnn_batch_norm_events_match_the_counted_native_batch_norm():
    # on CUDA aten::batch_norm runs aten::cudnn_batch_norm (and its backward) where meta and the CPU
    # run native_batch_norm: one for one, so they match under the counted op's key
    events = (tree(Event("aten::batch_norm", 0, 30.0), Event("aten::_batch_norm_impl_index", 1, 29.0))
              + [Event("aten::cudnn_batch_norm", 2, 28.0, device_time_total=6.0),
                 Event("aten::cudnn_batch_norm_backward", 50, 20.0, device_time_total=9.0)])
    events[1].cpu_children.append(events[2])
    events[2].cpu_parent = events[1]
    got = match_events(events, {"native_batch_norm", "native_batch_norm_backward"}, device_time=True)
    assert got == {"native_batch_norm": [pytest.approx(6e-6)], "native_batch_norm_backward": [pytest.approx(9e-6)]}


def test_the_settled_step_time_leaves_out_the_first_steps_one_time_costs():
    # the first step pays CUDA's lazy initialisation (here 150 ms), the rest take 2 ms: the old
    # average over the warm-up (≥ 50 ms a step) sized GPU energy windows too short to see a counter update
    took = iter([0.15] + [0.002] * 1000)
    clock = [0.0]
    real_perf = incontext.time.perf_counter

    def step():
        clock[0] += next(took)

    incontext.time.perf_counter = lambda: clock[0]
    try:
        per_step = settled_step_s(step, lambda: None, warmup_s=0.2)
    finally:
        incontext.time.perf_counter = real_perf
    assert per_step == pytest.approx(0.002)
    assert clock[0] >= 0.2  # the whole warm-up ran


def test_a_window_that_saw_no_counter_update_is_doubled_until_it_does():
    # a counter that moves once every 10 ms of this fake clock; a step takes 1 ms
    clock = [0.0005]

    class SteppedCounter:
        resolution_s = 0.01

        def read(self):
            return Reading(energy_j=100.0 * 0.01 * int(clock[0] / 0.01), time_s=clock[0])

    def step():
        clock[0] += 0.001

    n_iter, w = incontext.measure_window(step, lambda: None, SteppedCounter(), 2)
    # 2 steps (0.5-2.5 ms) and 4 (2.5-6.5 ms) see no update; 8 (6.5-14.5 ms) cross the one at 10 ms
    assert n_iter == 8 and w.energy_j == pytest.approx(1.0) and w.time_s == pytest.approx(0.008)


def test_a_step_over_the_cap_is_counted_next_at_the_batch_halving_would_reach():
    # 1,000 optimizer FLOPs and 100 per sample: at batch 512 the step is 52,200. Under a cap of 7,000
    # halving passes 64 (1,000 + 6,400 = 7,400, over) and stops at 32 (4,200)
    ops = [OpRecord("aten.mm", "linear", "forward", "", 100 * 512, 0, 0),
           OpRecord("aten._foreach_add_", "optimizer", "optimizer", "", 1_000, 0, 0)]
    assert incontext._smaller_batch(ops, 52_200, 512, 7_000) == 32
    assert incontext._smaller_batch(ops, 52_200, 512, 60_000) == 256  # at least one halving
    assert incontext._smaller_batch(ops, 52_200, 512, 10) == incontext.MIN_BATCH
    assert incontext._smaller_batch(ops, 52_200, 511, 7_000) == 31  # 511 // 2 // 2 // 2 // 2, as halving gives


def test_count_network_lands_on_the_batch_that_halving_one_step_at_a_time_reaches():
    from green_estimate.calibration.networks import build_network
    from green_estimate.counting.counter import count_step

    family, seed, batch, cap = "cnn", 3, 512, 2e7  # its step is 2.1e8 FLOPs at 512
    b = batch
    while True:  # the plain loop: count, halve, count again
        net = build_network(family, seed, "meta")
        flops = count_step(net.model, net.inputs(b, "meta"), optimizer="adam", batch_size=b, attention="math").totals().flops
        if flops <= cap or b <= incontext.MIN_BATCH:
            break
        b //= 2
    got, ops, _, _ = incontext.count_network(family, seed, batch, "adam", cap)
    assert b < batch // 2 and got == b  # several halvings, and the same batch
    assert sum(o.flops for o in ops) <= cap


class Profiled:
    """What :func:`profiler_events.profiled_times` reads of a finished ``torch.profiler.profile``."""

    def __init__(self, tree: list, raw: list | None) -> None:
        self._tree = tree
        self.profiler = SimpleNamespace(kineto_results=None if raw is None else SimpleNamespace(
            events=lambda: raw, trace_start_ns=lambda: 0))

    def events(self) -> list:
        return self._tree


def test_a_gpu_step_and_a_torch_without_raw_events_read_the_event_tree():
    tree = [Event("aten::mm", 0, 50.0, device_time_total=7.0)]
    raw = [RawEvent("aten::mm", 0, 9_000)]
    assert profiler_events.profiled_times(Profiled(tree, raw), {"mm"}, "cuda:0") == {"mm": [7e-6]}  # device time
    assert profiler_events.profiled_times(Profiled(tree, raw), {"mm"}, "cpu") == {"mm": [pytest.approx(9e-6)]}  # raw
    assert profiler_events.profiled_times(Profiled(tree, None), {"mm"}, "cpu") == {"mm": [pytest.approx(50e-6)]}

    class OlderRawEvent(RawEvent):  # a raw event without end_ns
        def __getattribute__(self, name: str):
            if name == "end_ns":
                raise AttributeError(name)
            return super().__getattribute__(name)

    older = [OlderRawEvent("aten::mm", 0, 9_000)]
    assert profiler_events.profiled_times(Profiled(tree, older), {"mm"}, "cpu") == {"mm": [pytest.approx(50e-6)]}


def test_profiled_steps_records_n_steps_after_a_warm_up_step_in_one_session():
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity

    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    inner = incontext.make_step(model, (torch.randn(4, 16),), "adam")
    calls, synced = [], []

    def step():
        calls.append(1)
        inner()

    prof = incontext.profiled_steps(step, lambda: synced.append(1), [ProfilerActivity.CPU], 3)
    assert len(calls) == 4 and len(synced) == 4  # the warm-up step ran, and every step was synchronised
    steps = profiler_events.split_steps(profiler_events.profiled_times(prof, {"addmm", "mm"}, "cpu"), 3)
    # three steps' GEMMs, not the warm-up's: each 2 forward addmm; backward mm: 2 weight gradients + 1 input gradient
    assert [(len(s["addmm"]), len(s["mm"])) for s in steps] == [(2, 3)] * 3


def test_split_steps_cuts_each_keys_events_into_equal_runs_and_drops_a_key_that_does_not_divide():
    times = {"mm": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "relu": [0.1, 0.2, 0.3], "add": [7.0, 8.0]}
    assert profiler_events.split_steps(times, 3) == [{"mm": [1.0, 2.0], "relu": [0.1]}, {"mm": [3.0, 4.0], "relu": [0.2]},
                                               {"mm": [5.0, 6.0], "relu": [0.3]}]
    ops = [op("mm"), op("mm"), op("add")]
    # the add ran 2 times in 3 steps: unmatched, as a key run another number of times than counted
    assert assign_times(ops, profiler_events.split_steps(times, 3)) == [3.0, 4.0, None]
