"""The runs file: measured whole training runs, one per row (CSV) or line (JSONL).

A run names its model (``file.py[:name]`` plus the variables that select the variant), its plan
(batch, epochs and samples, or steps), the device, what was measured (energy in J and/or time in s),
the meter, whether the idle draw is included, and how many repetitions the row's figures average.
Every bad row is one :class:`RunsFileError` naming the file, the row and the fix.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import UsageError

REQUIRED = ("model", "batch_size", "device")
COLUMNS = ("run", "model", "model_args", "input_shape", "batch_size", "epochs", "samples", "steps", "optimizer",
           "device", "energy_j", "time_s", "meter", "idle_included", "repetitions", "source")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


class RunsFileError(UsageError):
    """A runs file (or a file imported as one) cannot be read: a missing column, a bad value."""


@dataclass(frozen=True)
class Run:
    """One measured training run (or the mean of ``repetitions`` identical runs).

    Attributes:
        model: ``file.py[:name]`` or ``package.module[:name]``; a relative file path is resolved
            against the runs file's folder when read.
        model_args: keyword arguments for the file's ``build_model`` (the variant's variables).
        input_shape: per-sample input shape, or None for the file's own.
        steps: optimizer steps in the measured window (``ceil(samples / batch) × epochs`` when
            the row gave samples and epochs).
        energy_j, time_s: what was measured over the window; at least one is set.
        idle_included: whether ``energy_j`` includes the device's idle draw (a board total).
    """

    row: int
    run: str
    model: str
    model_args: dict = field(default_factory=dict)
    input_shape: tuple[int, ...] | None = None
    batch_size: int = 64
    steps: int = 1
    epochs: int | None = None
    samples: int | None = None
    optimizer: str = "adam"
    device: str = ""
    energy_j: float | None = None
    time_s: float | None = None
    meter: str = ""
    idle_included: bool = True
    repetitions: int = 1
    source: str = ""

    @property
    def config_key(self) -> str:
        """What makes two runs the same work: model, variant, input, batch, optimizer and steps."""
        return json.dumps([self.model, self.model_args, self.input_shape, self.batch_size, self.optimizer,
                           self.steps], sort_keys=True)

    @property
    def label(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in sorted(self.model_args.items()) if k != "input_shape")
        return f"{args or Path(self.model.split(':')[0]).name} b{self.batch_size} ×{self.steps}"

    def to_record(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("row")
        d["input_shape"] = list(self.input_shape) if self.input_shape else None
        return d


def _where(path: Path | str, row: int) -> str:
    return f"{path}, row {row}"


def _json_object(text: str, bad_json: Callable[[str], str], not_object: str) -> dict:
    """``text`` parsed as a JSON object; otherwise a :class:`RunsFileError` saying which was wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunsFileError(bad_json(e.msg)) from None
    if not isinstance(value, dict):
        raise RunsFileError(not_object)
    return value


def parse_args_text(text: str, where: str) -> dict:
    """``{"C": 3}`` (JSON) or ``family=SimpleCNN;C=3`` (values read as JSON when they parse)."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        return _json_object(text,
                            lambda msg: f"{where}: model_args is not valid JSON ({msg}): write {{\"C\": 3}} or C=3;H=32",
                            f"{where}: model_args must be an object of variables, e.g. {{\"C\": 3}}")
    out: dict[str, Any] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, eq, raw = part.partition("=")
        if not eq or not key.strip():
            raise RunsFileError(f"{where}: model_args part {part!r} is not NAME=VALUE: write e.g. family=SimpleCNN;C=3")
        try:
            out[key.strip()] = json.loads(raw.strip())
        except json.JSONDecodeError:
            out[key.strip()] = raw.strip()
    return out


def parse_number(raw: Any, name: str, where: str, *, integer: bool = False, positive: bool = True) -> Any:
    """A runs file's number field ``name`` (from a CSV cell or a JSON value): ``None`` when empty, an
    ``int`` when ``integer``; a :class:`RunsFileError` naming ``where`` for anything that is not a
    finite number above zero (or at least zero when not ``positive``)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        raise RunsFileError(f"{where}: {name} {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise RunsFileError(f"{where}: {name} {raw!r} is not a finite number")
    if value < 0 or (positive and value == 0):
        raise RunsFileError(f"{where}: {name} is {raw!r}; it must be {'positive' if positive else 'zero or more'}"
                            + (" (a meter reading that went backwards, or a sign error?)" if value < 0 else ""))
    if integer:
        if value != int(value):
            raise RunsFileError(f"{where}: {name} {raw!r} must be a whole number")
        return int(value)
    return value


def _bool(raw: Any, where: str) -> bool:
    if raw is None or raw == "":
        return True
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RunsFileError(f"{where}: idle_included {raw!r} must be true or false")


def _shape(raw: Any, where: str) -> tuple[int, ...] | None:
    if raw is None or raw == "" or raw == []:
        return None
    parts = raw if isinstance(raw, list) else str(raw).strip("()[] ").replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if str(p).strip())
    except ValueError:
        raise RunsFileError(f"{where}: input_shape {raw!r} must be whole numbers like 3,32,32") from None
    if not shape or any(d < 1 for d in shape):
        raise RunsFileError(f"{where}: input_shape {raw!r} must be positive sizes like 3,32,32")
    return shape


def run_from_record(rec: dict[str, Any], where: str, row: int, base: Path | None = None) -> Run:
    """One :class:`Run` from a dict of runs-file columns, checked; ``base`` resolves relative model files."""
    missing = [c for c in REQUIRED if rec.get(c) in (None, "")]
    if missing:
        raise RunsFileError(f"{where}: no {', '.join(missing)} (a runs file needs {', '.join(REQUIRED)} and "
                            "energy_j or time_s, plus steps or epochs and samples)")
    model = str(rec["model"]).strip()
    target, colon, name = model.partition(":")
    if base is not None and target.endswith(".py") and not Path(target).is_absolute():
        target = str(base / target)
    model = target + (colon + name if colon else "")
    if target.endswith(".py") and not Path(target).is_file():
        raise RunsFileError(f"{where}: unknown model {rec['model']!r}: no file {target}; model paths are relative "
                            "to the runs file's folder")
    args = rec.get("model_args")
    args = dict(args) if isinstance(args, dict) else parse_args_text(str(args or ""), where)
    batch = parse_number(rec.get("batch_size"), "batch_size", where, integer=True)
    epochs = parse_number(rec.get("epochs"), "epochs", where, integer=True)
    samples = parse_number(rec.get("samples"), "samples", where, integer=True)
    steps = parse_number(rec.get("steps"), "steps", where, integer=True)
    if steps is None:
        if epochs is None or samples is None:
            raise RunsFileError(f"{where}: no steps, and no epochs and samples to count them: give steps (optimizer "
                                "steps in the measured window) or epochs and samples")
        steps = math.ceil(samples / batch) * epochs
    energy = parse_number(rec.get("energy_j"), "energy_j", where)
    time_s = parse_number(rec.get("time_s"), "time_s", where)
    if energy is None and time_s is None:
        raise RunsFileError(f"{where}: neither energy_j nor time_s: a run must say what was measured")
    reps = parse_number(rec.get("repetitions"), "repetitions", where, integer=True) or 1
    return Run(row=row, run=str(rec.get("run") or row), model=model, model_args=args,
               input_shape=_shape(rec.get("input_shape"), where), batch_size=batch, steps=steps, epochs=epochs,
               samples=samples, optimizer=str(rec.get("optimizer") or "adam").strip().lower(),
               device=str(rec["device"]).strip(), energy_j=energy, time_s=time_s, meter=str(rec.get("meter") or ""),
               idle_included=_bool(rec.get("idle_included"), where), repetitions=reps, source=str(rec.get("source") or ""))


def read_runs(path: Path | str) -> list[Run]:
    """Every run of a runs file (``.csv`` with a header, or ``.jsonl`` with one object a line).

    Raises:
        RunsFileError: the file is missing, empty, lacks a required column, or a row is bad (the
            message names the row).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunsFileError(f"runs file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunsFileError(f"cannot read runs file {path} ({type(e).__name__}): give a .csv or .jsonl file") from e
    base = path.parent
    runs: list[Run] = []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            rec = _json_object(line, lambda msg: f"{_where(path, i)}: not a JSON object ({msg})",
                               f"{_where(path, i)}: each line must be a JSON object of runs-file columns")
            runs.append(run_from_record(rec, _where(path, i), i, base))
    else:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise RunsFileError(f"{path}: missing column(s) {', '.join(missing)}; a runs file has the columns "
                                f"{', '.join(COLUMNS)} (see docs/calibration.md)")
        if "energy_j" not in header and "time_s" not in header:
            raise RunsFileError(f"{path}: missing column energy_j or time_s (what each run measured)")
        for i, rec in enumerate(reader, start=2):  # row 1 is the header
            runs.append(run_from_record(rec, _where(path, i), i, base))
    if not runs:
        raise RunsFileError(f"runs file {path} has no runs")
    return runs


def write_runs(runs: list[Run], path: Path | str) -> Path:
    """Write runs as CSV (``.csv``) or JSONL (any other suffix); model paths are written as given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(COLUMNS))
            w.writeheader()
            for r in runs:
                w.writerow(_csv_row(r))
    else:
        with open(path, "w", encoding="utf-8") as f:
            for r in runs:
                f.write(json.dumps(r.to_record(), sort_keys=True) + "\n")
    return path


def _csv_row(run: Run) -> dict[str, Any]:
    rec = run.to_record()
    rec["model_args"] = json.dumps(rec["model_args"], sort_keys=True) if rec["model_args"] else ""
    rec["input_shape"] = ",".join(map(str, rec["input_shape"])) if rec["input_shape"] else ""
    rec["idle_included"] = "true" if rec["idle_included"] else "false"
    return {k: ("" if rec.get(k) is None else rec.get(k)) for k in COLUMNS}


def append_run(run: Run, path: Path | str) -> Path:
    """Add one run at the end of a runs file (``.csv``: a header first when the file is new; else JSONL).

    Raises:
        RunsFileError: an existing CSV file whose header is not the runs file's columns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if path.suffix.lower() != ".csv":
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(run.to_record(), sort_keys=True) + "\n")
        return path
    if not new:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if tuple(header) != COLUMNS:
            raise RunsFileError(f"{path}: its header is not the runs file's columns ({', '.join(COLUMNS)}); "
                                "append to a runs file written by green-estimate, or give a new file")
    with open(path, "a", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        if new:
            w.writeheader()
        w.writerow(_csv_row(run))
    return path
