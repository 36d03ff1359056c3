"""One row per finished trial, read back from the Optuna storage, and the trials CSV.

The report is built from the storage, not from memory, so a resumed run (or several workers sharing
one storage) reports every finished trial.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

PARAM_COLUMNS = ("family", "conv_blocks", "linear_layers", "relu", "lr", "beta1", "beta2", "eps", "weight_decay")
CSV_COLUMNS = (
    "strategy", "trial", "architecture", *PARAM_COLUMNS, "n_params", "epochs", "batch_size", "steps",
    "predicted_energy_j", "predicted_energy_j_low", "predicted_energy_j_high", "measured_energy_j",
    "predicted_time_s", "predicted_time_s_low", "predicted_time_s_high", "measured_time_s",
    "accuracy", "meter", "provenance", "profile_provenance", "load_avg_1m", "machine_pace", "subnormal_values",
    "denormal_slowdown",
)


@dataclass
class TrialRow:
    """A finished trial: its parameters, prediction (made before it ran), measurement and accuracy."""

    strategy: str
    trial: int
    params: dict
    arch: dict
    architecture: str
    n_params: int
    epochs: int
    batch_size: int
    steps: int
    pred_energy_j: float
    pred_energy_j_low: float
    pred_energy_j_high: float
    meas_energy_j: float
    pred_time_s: float
    pred_time_s_low: float
    pred_time_s_high: float
    meas_time_s: float
    accuracy: float
    meter: str
    provenance: str
    profile_provenance: str = ""
    meter_resolution_s: float = 0.0
    pred_by_class_j_per_step: dict = field(default_factory=dict)
    load_avg_1m: float | None = None
    torch_threads: int | None = None
    machine_pace: float | None = None  # reference step's time before the trial / when the profile was made (pace.py)
    subnormal_values: int | None = None  # subnormal floats in the gradients and Adam's state after the last step
    denormal_slowdown: float | None = None  # last steps' time as run / with denormals flushed (CPU; training.py)

    @property
    def contended(self) -> bool:
        """Whether other work competed for the CPU: load above this run's threads + 1."""
        return self.load_avg_1m is not None and self.torch_threads is not None and self.load_avg_1m > self.torch_threads + 1

    @property
    def off_pace(self) -> bool:
        """Whether the machine ran the reference step beyond ×1.25 of its time when the profile was made, either
        way, before this trial."""
        from green_estimate.pace import off_pace

        return off_pace(self.machine_pace)

    @property
    def family(self) -> str:
        return self.arch.get("family", "")

    def csv_record(self) -> dict:
        record = {
            "strategy": self.strategy,
            "trial": self.trial,
            "architecture": self.architecture,
            "n_params": self.n_params,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "predicted_energy_j": self.pred_energy_j,
            "predicted_energy_j_low": self.pred_energy_j_low,
            "predicted_energy_j_high": self.pred_energy_j_high,
            "measured_energy_j": self.meas_energy_j,
            "predicted_time_s": self.pred_time_s,
            "predicted_time_s_low": self.pred_time_s_low,
            "predicted_time_s_high": self.pred_time_s_high,
            "measured_time_s": self.meas_time_s,
            "accuracy": self.accuracy,
            "meter": self.meter,
            "provenance": self.provenance,
            "profile_provenance": self.profile_provenance,
            "load_avg_1m": self.load_avg_1m,
            "machine_pace": self.machine_pace,
            "subnormal_values": self.subnormal_values,
            "denormal_slowdown": self.denormal_slowdown,
        }
        for name in PARAM_COLUMNS:
            value = self.arch.get(name, self.params.get(name, ""))
            record[name] = value
        return record

    def to_dict(self) -> dict:
        d = self.csv_record()
        d["params"] = dict(self.params)
        d["predicted_by_class_j_per_step"] = dict(self.pred_by_class_j_per_step)
        return d


def row_from_trial(strategy: str, frozen) -> TrialRow:
    """A :class:`TrialRow` from a finished ``optuna.trial.FrozenTrial`` written by the objective."""
    a = frozen.user_attrs
    return TrialRow(
        strategy=strategy,
        trial=int(frozen.number),
        params=dict(frozen.params),
        arch=dict(a["arch"]),
        architecture=str(a["architecture"]),
        n_params=int(a["n_params"]),
        epochs=int(a["epochs"]),
        batch_size=int(a["batch_size"]),
        steps=int(a["steps"]),
        pred_energy_j=float(a["pred_energy_j"]),
        pred_energy_j_low=float(a["pred_energy_j_low"]),
        pred_energy_j_high=float(a["pred_energy_j_high"]),
        meas_energy_j=float(a["meas_energy_j"]),
        pred_time_s=float(a["pred_time_s"]),
        pred_time_s_low=float(a["pred_time_s_low"]),
        pred_time_s_high=float(a["pred_time_s_high"]),
        meas_time_s=float(a["meas_time_s"]),
        accuracy=float(frozen.value),
        meter=str(a["meter"]),
        provenance=str(a["provenance"]),
        profile_provenance=str(a.get("profile_provenance", "")),
        meter_resolution_s=float(a.get("meter_resolution_s", 0.0)),
        pred_by_class_j_per_step=dict(a.get("pred_by_class_j_per_step", {})),
        load_avg_1m=a.get("load_avg_1m"),
        torch_threads=a.get("torch_threads"),
        machine_pace=a.get("machine_pace"),
        subnormal_values=a.get("subnormal_values"),
        denormal_slowdown=a.get("denormal_slowdown"),
    )


def load_rows(storage, study_names: dict[str, str]) -> tuple[list[TrialRow], dict[str, int]]:
    """Every finished trial of the named studies, in strategy then trial order.

    Args:
        storage: an Optuna storage or URL.
        study_names: strategy → study name.

    Returns:
        The rows, and per strategy the number of trials that did not finish (failed, interrupted,
        or still running in another worker), which the report mentions.
    """
    import optuna
    from optuna.trial import TrialState

    rows: list[TrialRow] = []
    unfinished: dict[str, int] = {}
    for strategy, name in study_names.items():
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        finished = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
        rows += [row_from_trial(strategy, t) for t in finished]
        # trials a worker skipped before pricing them (surplus or duplicate, see search.claim) never ran
        skipped = sum(1 for t in trials if t.state == TrialState.PRUNED and "skipped" in t.user_attrs)
        unfinished[strategy] = len(trials) - len(finished) - skipped
    return rows, unfinished


def write_csv(rows: list[TrialRow], path: Path) -> Path:
    """Write ``trials.csv``: one row per trial, columns :data:`CSV_COLUMNS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow(row.csv_record())
    return path
