"""Running the suite under a meter, one appended sample per case.

Protocol per case (after Zeus' profiling protocol): build the network on the device; warm up for
``warmup_s`` (at least three steps); time its ops in context under the profiler; size the window so
it lasts at least ``window_s`` and ten times the meter's resolution; measure ``repeats`` windows of
whole steps; the sample is the median per-step time and energy, with every repeat kept. On a GPU
each window ends with a device synchronise.

Nothing is lost on interruption: each sample is one JSON line, written, flushed and fsynced before
the next case starts; ``resume`` skips the cases already in the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from green_estimate.calibration.cases import Case
from green_estimate.calibration.incontext import MIN_BATCH, measure_network
from green_estimate.errors import GreenEstimateError
from green_estimate.meters.base import Meter

SAMPLES_SCHEMA = "green-estimate/samples@1"


@dataclass
class RunSettings:
    warmup_s: float = 0.03
    window_s: float = 0.05
    repeats: int = 5
    idle_s: float = 2.0
    min_window_resolutions: float = 10.0  # a window lasts at least this many meter resolutions
    max_step_flops: float = 2e9  # a drawn network's batch is halved until its step is at most this
    precision: str = "fp32"  # fp32 | tf32 | bf16 | fp16: the steps run (and are counted) at this precision


def read_samples(path: Path) -> tuple[dict | None, list[dict]]:
    """The header and samples of a samples file (``.jsonl``, or ``.jsonl.gz`` as archived); a torn
    last line (a crash mid-write) is dropped."""
    header, samples = None, []
    if not Path(path).exists():
        return None, []
    if str(path).endswith(".gz"):  # an archived samples file (calibration/samples/)
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    else:
        lines = Path(path).read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # torn final line
            raise GreenEstimateError(f"samples file {path} is damaged at line {i + 1}: move it away and recalibrate") from None
        if rec.get("type") == "header":
            header = rec
        elif rec.get("type") == "sample":
            samples.append(rec)
    return header, samples


def _append(fh: Any, rec: dict) -> None:
    fh.write(json.dumps(rec) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def _drop_torn_tail(path: Path) -> None:
    """Cut a final line left half-written by a crash (the line :func:`read_samples` drops), so
    appended samples start on a fresh line and the file stays readable."""
    if not path.exists():
        return
    data = path.read_bytes()
    body = data.rstrip(b"\n")
    start = body.rfind(b"\n") + 1
    last = body[start:]
    try:
        json.loads(last)
        torn = not data.endswith(b"\n")
    except (json.JSONDecodeError, UnicodeDecodeError):
        torn = bool(last.strip())
    if torn:
        with open(path, "r+b") as fh:
            fh.truncate(start)


def measure_case(case: Case, meter: Meter, device: str, settings: RunSettings) -> dict:
    """Measure one case; returns the sample record (without writing it).

    A step that does not fit in the GPU's memory (the GPU suite's device-bound networks on a small
    GPU) is measured again at half the batch, down to :data:`~green_estimate.calibration.incontext.MIN_BATCH`;
    the sample records the batch it ran at.

    Raises:
        GreenEstimateError: the step does not fit in memory even at the smallest batch.
    """
    import torch

    params = case.p()
    while True:
        try:
            rec = measure_network(params, meter, device, warmup_s=settings.warmup_s, window_s=settings.window_s,
                                  repeats=settings.repeats, min_window_resolutions=settings.min_window_resolutions,
                                  max_step_flops=settings.max_step_flops, precision=settings.precision)
            break
        except torch.cuda.OutOfMemoryError as e:
            if params["batch"] <= MIN_BATCH:
                raise GreenEstimateError(
                    f"{case.id} does not fit in the memory of {device} even at batch {params['batch']}: free the "
                    "GPU (other processes?) and run the same command with --resume") from e
            params = {**params, "batch": max(MIN_BATCH, params["batch"] // 2)}
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return {"type": "sample", "case": case.id, "cls": case.cls, "kind": case.kind, "params": dict(case.params), **rec}


def run_suite(
    cases: list[Case],
    meter: Meter,
    samples_path: Path,
    header: dict,
    *,
    device: str = "cpu",
    settings: RunSettings | None = None,
    resume: bool = False,
    on_progress: Callable[[int, int, str], None] | None = None,
    pace_timer: Callable[[], float] | None = None,
    stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """Measure every case not yet in ``samples_path``, appending each sample as it is measured.

    Args:
        cases: the suite's cases.
        meter: the energy meter (its provenance is written to the header).
        samples_path: JSON-lines file; created with ``header`` unless resuming.
        header: metadata for the first line (device, meter, torch version, ...).
        device: ``cpu`` or ``cuda:N``.
        settings: warm-up, window and repeats.
        resume: continue an existing file (same device and meter required).
        on_progress: called as ``(done, total, case_id)`` after each case.
        pace_timer: times the machine's pace before each case (seconds per reference step,
            :mod:`green_estimate.pace`), stored in its sample as ``pace_s``.
        stop: asked before each case; once it says ``True`` no further case is measured (a time
            limit: the cases left are measured by a later ``resume``).

    Returns:
        All samples in the file (earlier ones included).
    """
    settings = settings or RunSettings()
    samples_path = Path(samples_path)
    old_header, done = read_samples(samples_path) if resume else (None, [])
    if resume and old_header is not None:
        if old_header.get("op_fields") != header.get("op_fields"):
            lacking = [f for f in header.get("op_fields") or [] if f not in (old_header.get("op_fields") or [])]
            raise GreenEstimateError(
                f"cannot resume {samples_path}: another version of green-estimate wrote it (its op rows "
                f"{'lack ' + ', '.join(lacking) if lacking else 'record other fields'}); use another --out or drop --resume"
            )
        for key in ("device_name", "meter", "quick", "torch_version", "dtype"):
            if old_header.get(key) != header.get(key):
                raise GreenEstimateError(
                    f"cannot resume {samples_path}: it was measured with {key} {old_header.get(key)!r}, "
                    f"this run has {header.get(key)!r}; use another --out or drop --resume"
                )
    elif samples_path.exists() and not resume:
        raise GreenEstimateError(f"{samples_path} exists: pass --resume to continue it, or choose another --out")
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    if resume:
        _drop_torn_tail(samples_path)
    done_ids = {s["case"] for s in done}
    todo = [c for c in cases if c.id not in done_ids]
    total = len(cases)
    with open(samples_path, "a") as fh:
        if old_header is None:
            _append(fh, {"type": "header", "schema": SAMPLES_SCHEMA, **header})
        if on_progress:
            on_progress(total - len(todo), total, "")
        for i, case in enumerate(todo):
            if stop is not None and stop():
                break
            pace = pace_timer() if pace_timer is not None else None
            rec = measure_case(case, meter, device, settings)
            if pace is not None:
                rec["pace_s"] = pace
            _append(fh, rec)
            done.append(rec)
            if on_progress:
                on_progress(total - len(todo) + i + 1, total, case.id)
    return done
