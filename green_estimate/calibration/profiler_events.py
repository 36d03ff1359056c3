"""Matching torch.profiler's events to the counted ops of a step: which event is which op, and its time.

Calibration (:mod:`~green_estimate.calibration.incontext`) runs a network's step under the profiler
and needs, for every op the meta-device count holds, the time of the event that ran it: the
outermost ``aten::`` event of the op's name (in-place twins are one key), the k-th counted op of a
name taking the k-th event (:func:`assign_times`). On the CPU the events are read raw
(:func:`match_cpu_events`), on CUDA through torch's event tree with each op's kernels' device time
(:func:`match_events`); several recorded steps of one session are cut apart by :func:`split_steps`.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from green_estimate.counting.classes import is_in_place
from green_estimate.counting.report import OpRecord


# Device kernels' aten names for a counted op: on CUDA, batch norm runs cuDNN's (ROCm: MIOpen's) op
# where the meta device and the CPU run ``native_batch_norm``, one for one, forward and backward.
DEVICE_ALIASES = {
    "cudnn_batch_norm": "native_batch_norm", "cudnn_batch_norm_backward": "native_batch_norm_backward",
    "miopen_batch_norm": "native_batch_norm", "miopen_batch_norm_backward": "native_batch_norm_backward",
}


def match_key(name: str) -> str:
    """The name ops are matched under: in-place twins (``add_``/``add``) are one key, since autograd
    accumulates gradients in place on one device and out of place on another; a device's own kernel
    op (``cudnn_batch_norm``) has the key of the op it stands for (:data:`DEVICE_ALIASES`)."""
    name = DEVICE_ALIASES.get(name, name)
    return name[:-1] if is_in_place(name) else name


def _in_order(found: list[tuple[float, str, float]]) -> dict[str, list[float]]:
    """Matched ``(start, key, seconds)`` events as each key's times in the order they started."""
    out: dict[str, list[float]] = defaultdict(list)
    for _, key, t in sorted(found, key=lambda f: f[0]):
        out[key].append(t)
    return out


def match_events(events: list, keys: set[str], device_time: bool = False) -> dict[str, list[float]]:
    """Times (s) of the outermost profiler events whose aten name's key is in ``keys``, per key, in order.

    Args:
        events: ``prof.events()`` of one profiled step (``FunctionEvent`` objects).
        keys: the counted ops' :func:`match_key` names (``addmm``, not ``aten.addmm``).
        device_time: take the event's device (kernel) time instead of its CPU time.
    """
    found: list[tuple[float, str, float]] = []

    def walk(e: Any, inside: bool) -> None:
        key = match_key(e.name[6:]) if e.name.startswith("aten::") else None
        if not inside and key in keys:
            us = getattr(e, "device_time_total", 0.0) if device_time else e.cpu_time_total
            found.append((e.time_range.start, key, us * 1e-6))
            inside = True
        for child in e.cpu_children:
            walk(child, inside)

    for root in (e for e in events if e.cpu_parent is None):
        walk(root, False)
    return _in_order(found)


# Utility events torch.profiler's own event list leaves out (``torch.autograd.profiler_util._filter_name``).
UTILITY_EVENTS = frozenset({"[memory]", "[OutOfMemory]", "profiler::_record_function_enter",
                            "profiler::_record_function_enter_new", "profiler::_record_function_exit",
                            "aten::is_leaf", "aten::output_nr", "aten::_version"})


def match_cpu_events(events: Any, keys: set[str], trace_start_ns: int = 0) -> dict[str, list[float]]:
    """:func:`match_events` on the CPU from the profiler's raw events (``prof.profiler.kineto_results``).

    Building torch's ``FunctionEvent`` tree (``prof.events()``) took 15 of a quick calibration's
    155 s on a 2-vCPU EPYC; this reads the same events, nests them per thread as torch does (an
    event is inside the one before it that spans it: ``_populate_cpu_children``) and returns the
    same times: each event's end minus start in µs from the trace's start, as torch computes them.

    Args:
        events: ``_KinetoEvent`` objects (``name()``, ``start_ns()``, ``end_ns()``, ...).
        keys: the counted ops' :func:`match_key` names.
        trace_start_ns: the trace's start (``kineto_results.trace_start_ns()``).
    """
    from torch.autograd import DeviceType

    threads: dict[int, list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        name = e.name()
        if (e.device_type() != DeviceType.CPU or e.is_async() or e.start_thread_id() != e.end_thread_id()
                or name in UTILITY_EVENTS or getattr(e, "is_hidden_event", lambda: False)()):  # not in older torch
            continue
        threads[e.start_thread_id()].append(((e.start_ns() - trace_start_ns) / 1000,
                                             (e.end_ns() - trace_start_ns) / 1000, name))
    found: list[tuple[float, str, float]] = []
    for spans in threads.values():
        spans.sort(key=lambda s: (s[0], -s[1]))
        open_spans: list[tuple[float, bool]] = []  # (end, inside a matched event) of the events enclosing this one
        for start, end, name in spans:
            while open_spans and (start >= open_spans[-1][0] or end > open_spans[-1][0]):
                open_spans.pop()
            inside = bool(open_spans) and open_spans[-1][1]
            key = match_key(name[6:]) if name.startswith("aten::") else None
            if not inside and key in keys:
                found.append((start, key, (end - start) * 1e-6))
                inside = True
            open_spans.append((end, inside))
    return _in_order(found)


def profiled_times(prof: Any, keys: set[str], device: str) -> dict[str, list[float]]:
    """One profiled step's matched op times: from the raw events on the CPU, from torch's event tree
    (each CPU op's device kernels) on a GPU or where the raw events are not there."""
    results = getattr(getattr(prof, "profiler", None), "kineto_results", None)
    if not device.startswith("cuda") and results is not None:
        try:
            return match_cpu_events(results.events(), keys, results.trace_start_ns())
        except AttributeError:  # a torch whose raw events lack a member read here: read the tree
            pass
    return match_events(prof.events(), keys, device_time=device.startswith("cuda"))


def op_key(op: OpRecord) -> str:
    """A counted op's :func:`match_key` (``aten.add_`` → ``add``)."""
    return match_key(op.op.split(".", 1)[1])


def assign_times(ops: list[OpRecord], steps: list[dict[str, list[float]]]) -> list[float | None]:
    """Each counted op's median in-context time over the profiled steps (``None`` when unmatched).

    The k-th counted op of a key takes the k-th event of that key. Where the device ran another
    number of ops of a key than the meta device counted (a fused GRU forward, a different
    decomposition), that key's ops get ``None`` in that step.
    """
    counted = Counter(op_key(o) for o in ops)
    seen: Counter[str] = Counter()
    out: list[float | None] = []
    for o in ops:
        key = op_key(o)
        k = seen[key]
        seen[key] += 1
        times = [s[key][k] for s in steps if len(s.get(key, ())) == counted[key]]
        out.append(statistics.median(times) if times else None)
    return out


def split_steps(times: dict[str, list[float]], n: int) -> list[dict[str, list[float]]]:
    """``n`` identical steps' matched op times (:func:`profiled_times` of one session), per step: each
    key's events, in the order they started, cut into ``n`` equal runs. A key whose event count ``n``
    does not divide (the steps ran it a different number of times) is left out of every step: its ops
    are unmatched, as :func:`assign_times` leaves a key the device ran another number of times than
    counted."""
    out: list[dict[str, list[float]]] = [{} for _ in range(n)]
    for key, ts in times.items():
        if len(ts) % n:
            continue
        per = len(ts) // n
        for j in range(n):
            out[j][key] = ts[j * per:(j + 1) * per]
    return out
