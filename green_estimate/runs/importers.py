"""Runs from other tools' files: ``validate``'s trials CSV, CodeCarbon's ``emissions.csv``, Zeus's log.

CodeCarbon and Zeus record energy and time but not what was trained, so their rows are joined to
models and plans through a small **mapping file** (TOML or JSON): a ``[defaults]`` table and one
table per run id (CodeCarbon's ``run_id``, ``experiment_id`` or ``project_name``; Zeus's
``window_name``) with runs-file columns::

    [defaults]
    model = "model.py"
    batch_size = 512
    device = "NVIDIA GeForce GTX 1080"

    [runs.cnn-fashion]
    model_args = {family = "SimpleCNN", C = 1, H = 28}
    epochs = 25
    samples = 60000

:func:`detect_format` tells the formats apart by their header.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from green_estimate.runs.runsfile import Run, RunsFileError, parse_number, read_runs, run_from_record

J_PER_KWH = 3.6e6
CODECARBON_REQUIRED = ("duration", "energy_consumed")
ZEUS_REQUIRED = ("start_time", "window_name", "elapsed_time")
VALIDATE_REQUIRED = ("family", "conv_blocks", "linear_layers", "relu", "batch_size", "steps", "measured_energy_j",
                     "measured_time_s")
VALIDATE_MODEL = "green_estimate.validation.models:build_model"


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    except FileNotFoundError:
        raise RunsFileError(f"runs file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunsFileError(f"cannot read {path} ({type(e).__name__}): give a runs file, a validate trials.csv, "
                            "a CodeCarbon emissions.csv or a Zeus log") from e


def detect_format(path: Path | str) -> str:
    """``runs``, ``validate``, ``codecarbon`` or ``zeus``, from the file's suffix and header."""
    path = Path(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "runs"
    cols = set(_header(path))
    if all(c in cols for c in VALIDATE_REQUIRED):
        return "validate"
    if all(c in cols for c in CODECARBON_REQUIRED) and ("run_id" in cols or "experiment_id" in cols
                                                        or "project_name" in cols):
        return "codecarbon"
    if all(c in cols for c in ZEUS_REQUIRED):
        return "zeus"
    return "runs"


def load_runs(path: Path | str, mapping: Path | str | None = None,
              keep_contended: bool = False) -> tuple[list[Run], str, list[str]]:
    """The runs in ``path`` whatever its format, the format's name, and notes on rows left out.

    Raises:
        RunsFileError: a bad row, or a CodeCarbon/Zeus file without the mapping it needs.
    """
    path = Path(path)
    fmt = detect_format(path)
    notes: list[str] = []
    if fmt == "runs":
        return read_runs(path), fmt, notes
    if fmt == "validate":
        return from_validate_trials(path, mapping, notes=notes, keep_contended=keep_contended), fmt, notes
    if mapping is None:
        raise RunsFileError(f"{path} is a {'CodeCarbon emissions.csv' if fmt == 'codecarbon' else 'Zeus log'}: it "
                            "does not say what was trained; give --runs-map mapping.toml (see docs/calibration.md)")
    return (from_codecarbon if fmt == "codecarbon" else from_zeus)(path, mapping), fmt, notes


def read_mapping(path: Path | str) -> tuple[dict, dict[str, dict], Path]:
    """``(defaults, runs by id, folder)`` of a mapping file (``.toml`` or ``.json``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RunsFileError(f"mapping file {path} does not exist") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw)
        else:
            from green_estimate.config_files import parse_toml

            data = parse_toml(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - TOML and JSON raise their own types
        raise RunsFileError(f"mapping file {path} cannot be parsed ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs", {}), dict):
        raise RunsFileError(f"mapping file {path}: expected a [defaults] table and [runs.<id>] tables")
    return dict(data.get("defaults", {})), {str(k): dict(v) for k, v in data.get("runs", {}).items()}, path.parent


def _mapped(run_id: str, measured: dict[str, Any], mapping: tuple[dict, dict[str, dict], Path], where: str,
            row: int, fallback: dict[str, Any] | None = None) -> Run:
    """The mapping's columns for ``run_id`` over ``fallback`` (what the tool itself recorded, such as
    its device name), under what was measured."""
    defaults, by_id, base = mapping
    if run_id not in by_id and not defaults.get("model"):
        known = ", ".join(sorted(by_id)) or "none"
        raise RunsFileError(f"{where}: run {run_id!r} is not in the mapping file (it maps {known}): add a "
                            f"[runs.{run_id!r}] table with its model and plan")
    rec = {**(fallback or {}), **defaults, **by_id.get(run_id, {}), **measured, "run": run_id}
    rec.pop("energy", None)
    return run_from_record(rec, where, row, base)


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def from_codecarbon(path: Path | str, mapping: Path | str) -> list[Run]:
    """Runs from CodeCarbon's ``emissions.csv`` (energies in kWh, ``duration`` in s).

    The energy is ``gpu_energy`` when the mapping's run (or defaults) says ``energy = "gpu"``,
    else ``energy_consumed`` (CPU + GPU + RAM). The id is ``run_id``, else ``experiment_id``, else
    ``project_name`` (``id_column`` in ``[defaults]`` picks another).
    """
    path = Path(path)
    m = read_mapping(mapping)
    id_col = m[0].pop("id_column", None)
    runs = []
    for i, rec in enumerate(_rows(path), start=2):
        where = f"{path}, row {i}"
        col = id_col or next((c for c in ("run_id", "experiment_id", "project_name") if rec.get(c)), "")
        run_id = str(rec.get(col, "")).strip()
        part = {**m[0], **m[1].get(run_id, {})}.get("energy", "total")
        if part not in ("total", "gpu", "cpu"):
            raise RunsFileError(f"{mapping}: energy = {part!r} must be total, gpu or cpu")
        column = {"total": "energy_consumed", "gpu": "gpu_energy", "cpu": "cpu_energy"}[part]
        kwh = rec.get(column, "")
        try:
            energy = float(kwh) * J_PER_KWH
        except ValueError:
            raise RunsFileError(f"{where}: {column} {kwh!r} is not a number of kWh") from None
        meter = f"codecarbon {rec.get('codecarbon_version', '')} ({rec.get('tracking_mode', '')}; {part} energy)".strip()
        device = rec.get("gpu_model") if part == "gpu" and rec.get("gpu_model") else rec.get("cpu_model", "")
        measured = {"energy_j": energy, "time_s": rec.get("duration"), "meter": meter, "idle_included": True,
                    "source": f"{path.name} {col}={run_id}"}
        runs.append(_mapped(run_id, measured, m, where, i, {"device": device} if device else None))
    if not runs:
        raise RunsFileError(f"{path} has no rows")
    return runs


def from_zeus(path: Path | str, mapping: Path | str) -> list[Run]:
    """Runs from a ``ZeusMonitor(log_file=...)`` CSV: ``start_time,window_name,elapsed_time,gpu0_energy,...``
    (seconds and joules; the energy is the sum of the GPU columns). The id is ``window_name``."""
    path = Path(path)
    m = read_mapping(mapping)
    runs = []
    for i, rec in enumerate(_rows(path), start=2):
        where = f"{path}, row {i}"
        gpus = [k for k in rec if k and k.startswith("gpu") and k.endswith("_energy")]
        if not gpus:
            raise RunsFileError(f"{where}: no gpu<N>_energy column: is this a ZeusMonitor log file?")
        try:
            energy = sum(float(rec[k]) for k in gpus)
        except ValueError:
            raise RunsFileError(f"{where}: a gpu<N>_energy value is not a number of joules") from None
        name = str(rec["window_name"]).strip()
        runs.append(_mapped(name, {"energy_j": energy, "time_s": rec.get("elapsed_time"),
                                   "meter": f"zeus ({'+'.join(gpus)})", "idle_included": True,
                                   "source": f"{path.name} window {name}"}, m, where, i))
    if not runs:
        raise RunsFileError(f"{path} has no rows")
    return runs


def from_validate_trials(path: Path | str, mapping: Path | str | None = None,
                         notes: list[str] | None = None, keep_contended: bool = False) -> list[Run]:
    """Runs from ``validate``'s ``trials.csv``. The input shape and device come from the ``report.json``
    beside it (or the mapping's ``[defaults]``: ``input_shape``, ``device``).

    Trials measured while other work competed for the CPU (1-minute load above the run's torch
    threads + 1, as validate's report flags them) are left out: on a shared machine such a trial
    can take 10-100× its time, which says nothing about the model. So are trials run off pace (the
    ``machine_pace`` column beyond ×1.25 either way, :mod:`green_estimate.pace`): the machine ran a
    fixed reference step that much slower or faster than when the profile was made, so their times
    are the machine's as much as the model's. ``notes`` gets a line for each reason saying how many
    were left out (``keep_contended`` keeps both).
    """
    from green_estimate.pace import OFF_PACE, off_pace

    path = Path(path)
    defaults: dict[str, Any] = read_mapping(mapping)[0] if mapping else {}
    report = path.with_name("report.json")
    threads = None
    if report.is_file():
        try:
            doc = json.loads(report.read_text(encoding="utf-8"))
            defaults.setdefault("input_shape", doc.get("dataset", {}).get("input_shape"))
            config = doc.get("config", {})
            prof = config.get("profile", {})  # its device is this one's name when validate found it made here
            defaults.setdefault("device", prof.get("device") if prof.get("other_device") is False else config.get("device"))
            threads = config.get("torch_threads")
        except (OSError, json.JSONDecodeError, AttributeError):
            pass
    if not defaults.get("input_shape"):
        raise RunsFileError(f"{path}: no report.json beside it to say the input shape: keep the validate output "
                            "folder whole, or give a mapping file with input_shape in [defaults]")
    runs = []
    contended = paced_out = 0
    for i, rec in enumerate(_rows(path), start=2):
        where = f"{path}, row {i}"
        load = rec.get("load_avg_1m")
        if threads and load and float(load) > int(threads) + 1 and not keep_contended:
            contended += 1
            continue
        if off_pace(parse_number(rec.get("machine_pace"), "machine_pace", where)) and not keep_contended:
            paced_out += 1
            continue
        try:
            arch = {"family": rec["family"], "conv_blocks": int(float(rec["conv_blocks"] or 0)),
                    "linear_layers": int(float(rec["linear_layers"])),
                    "relu": str(rec["relu"]).strip().lower() in ("true", "1")}
        except (KeyError, ValueError):
            raise RunsFileError(f"{where}: family, conv_blocks, linear_layers or relu is not what validate writes") from None
        shape = defaults["input_shape"]
        shape = [int(d) for d in (shape if isinstance(shape, list) else str(shape).split(","))]
        arch["input_shape"] = shape
        runs.append(run_from_record({
            "run": f"{rec.get('strategy', '')}-{rec.get('trial', i)}", "model": VALIDATE_MODEL, "model_args": arch,
            "input_shape": shape, "batch_size": rec["batch_size"], "steps": rec["steps"], "optimizer": "adam",
            "device": defaults.get("device") or "unknown", "energy_j": rec["measured_energy_j"],
            "time_s": rec["measured_time_s"], "meter": f"{rec.get('meter', '')} ({rec.get('provenance', '')})",
            "idle_included": True, "source": f"validate {path}"}, where, i))
    total = contended + paced_out + len(runs)
    if contended and notes is not None:
        notes.append(f"{contended} of {total} trials left out: measured while other work competed "
                     f"for the CPU (1-minute load above {threads} torch threads + 1)")
    if paced_out and notes is not None:
        notes.append(f"{paced_out} of {total} trials left out: run off pace (the machine took beyond ×{OFF_PACE:g} "
                     "either way its time for a fixed reference step when the profile was made)")
    if not runs:
        raise RunsFileError(f"{path} has no trials" + (" measured without contention and at pace: rerun validate on "
                                                       "an idle machine, or pass --keep-contended"
                                                       if contended or paced_out else ""))
    return runs
