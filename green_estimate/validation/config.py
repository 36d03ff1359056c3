"""What a validation run does: data, search, presets, storage, and the study names it uses.

Two presets: ``quick`` (minutes on a 2-core CPU, numbers for a smoke test) and ``full`` (the study's
protocol: 64 trials per strategy, 25 epochs, batch 512). Options given explicitly override the preset.

A study's name is derived from everything that changes what a trial means (data, subset sizes,
epochs, batch size, search space): rerunning with the same settings and the same storage resumes
the same studies; changing one of them starts new studies beside the old ones instead of mixing
incomparable trials.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from green_estimate.errors import UsageError
from green_estimate.validation.data import DATASETS

STRATEGIES = ("grid", "random", "bayes", "tpe")
DEFAULT_STRATEGIES = ("grid", "random", "bayes")
FAMILIES = ("simple_cnn", "dense_poly", "dense_linear")
STORAGE_FILE = "validation.sqlite3"

PRESETS: dict[str, dict] = {
    # 24 trials x 3 strategies, ~0.1-1 s of training each on digits: about a minute on 2 cores, and
    # enough trials per strategy (>= 20) for claim 1 to get a verdict.
    "quick": {"trials": 24, "epochs": 10, "batch_size": 128},
    # The study's protocol (Yarally et al.): 64 rounds per strategy, 25 epochs, batch 512.
    "full": {"trials": 64, "epochs": 25, "batch_size": 512},
}


@dataclass(frozen=True)
class ValidationConfig:
    """Every setting of a validation run.

    Attributes:
        out_dir: where trials.csv, report.json, report.md, plots and (by default) the storage go.
        preset: ``"quick"`` or ``"full"``: recorded, the numbers below are what runs.
        data: ``"digits"``, ``"fashion-mnist"`` or ``"cifar10"``.
        data_dir: folder with FashionMNIST / CIFAR-10 files (never downloaded).
        train_samples: train on a fixed random subset of this size (None: all).
        test_samples: test on a fixed random subset of this size (None: all).
        strategies: any of ``grid``, ``random``, ``bayes`` (Gaussian process), ``tpe``.
        trials: finished trials wanted per strategy (a resumed run only runs the missing ones).
        epochs: epochs per trial.
        batch_size: samples per step.
        families: model families in the search space.
        five_params: also search Adam's ε and weight decay (the study's 5-parameter variant).
        log_lr: sample the learning rate log-uniformly (the study used uniform U[1e-5, 0.1]).
        storage: an Optuna RDB URL or a file path (SQLite); None: ``out_dir/validation.sqlite3``.
        seed: seeds the samplers, model initialisation and batch order.
        device: ``"cpu"`` or ``"cuda:N"``.
        predictor: the profile name and confidence that priced the trials (part of the study name).
        warmup_steps: unmeasured steps on a copy of the model before each measured window.
        threads: torch CPU threads during the run; None: the cores this process may use.
        workers: processes on this machine running the studies at once (each gets threads / workers).
    """

    out_dir: Path
    preset: str = "full"
    data: str = "digits"
    data_dir: Path | None = None
    train_samples: int | None = None
    test_samples: int | None = None
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    trials: int = PRESETS["full"]["trials"]
    epochs: int = PRESETS["full"]["epochs"]
    batch_size: int = PRESETS["full"]["batch_size"]
    families: tuple[str, ...] = FAMILIES
    five_params: bool = False
    log_lr: bool = False
    storage: str | None = None
    seed: int = 0
    device: str = "cpu"
    predictor: str = ""  # which profile and confidence priced the trials, e.g. "cpu-reference-2core@0.9"
    # the profile that priced the trials: name, device, provenance, origin, other_device (not part of experiment())
    profile: dict | None = None
    warmup_steps: int = 1
    threads: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad or not self.strategies:
            raise UsageError(f"unknown strategy {', '.join(bad) or '(none)'}: choose from {', '.join(STRATEGIES)}")
        if len(set(self.strategies)) != len(self.strategies):
            raise UsageError(f"--strategies lists a strategy twice: {','.join(self.strategies)}")
        badf = [f for f in self.families if f not in FAMILIES]
        if badf or not self.families:
            raise UsageError(f"unknown model family {', '.join(badf) or '(none)'}: choose from {', '.join(FAMILIES)}")
        if self.data not in DATASETS:
            raise UsageError(f"unknown data set {self.data!r}: choose from {', '.join(DATASETS)}")
        for name in ("trials", "epochs", "batch_size"):
            if getattr(self, name) < (0 if name == "trials" else 1):
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise UsageError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.workers < 1:
            raise UsageError(f"--workers {self.workers}: must be at least 1")
        url = self.storage_url()
        if self.workers > 1 and (":memory:" in url or url.rstrip("/") == "sqlite:"):
            raise UsageError(f"--workers {self.workers} needs a storage every worker can open; {url!r} is an in-memory "
                             "database private to one process: give a file path (SQLite), a .journal file, or a "
                             "server URL such as postgresql://user@host/db for several machines")

    def storage_url(self) -> str:
        """The Optuna storage: ``--storage`` as given, a ``.journal`` path as Optuna's journal file
        (``journal:PATH``), another bare path as SQLite, else a SQLite file in out_dir."""
        if self.storage is None:
            return f"sqlite:///{(Path(self.out_dir) / STORAGE_FILE).resolve()}"
        if "://" in self.storage or self.storage.startswith("journal:"):
            return self.storage
        if self.storage.endswith(".journal"):
            return f"journal:{Path(self.storage).expanduser().resolve()}"
        return f"sqlite:///{Path(self.storage).expanduser().resolve()}"

    def experiment(self) -> dict:
        """The settings that define what a trial means (and so which study it belongs to)."""
        return {
            "data": self.data,
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "families": sorted(self.families),
            "five_params": self.five_params,
            "log_lr": self.log_lr,
            # trials measured on another device, or priced by another profile, are not the same trials
            "device": self.device,
            "predictor": self.predictor,
        }

    def study_name(self, strategy: str) -> str:
        """E.g. ``"digits-e8-b128-3p-1a2b3c4d-grid"``: readable prefix, hash of :meth:`experiment`."""
        digest = hashlib.sha1(json.dumps(self.experiment(), sort_keys=True).encode()).hexdigest()[:8]
        params = 5 if self.five_params else 3
        return f"{self.data}-e{self.epochs}-b{self.batch_size}-{params}p-{digest}-{strategy}"

    def torch_threads(self) -> int:
        """Threads to give torch: ``threads`` or the CPUs this process may run on."""
        if self.threads is not None:
            return self.threads
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["data_dir"] = None if self.data_dir is None else str(self.data_dir)
        d["strategies"] = list(self.strategies)
        d["families"] = list(self.families)
        d["storage"] = self.storage_url()
        return d


def preset_config(preset: str, out_dir: Path | str, **overrides) -> ValidationConfig:
    """A config from a preset, with explicit settings (those not None) on top.

    Example:
        >>> preset_config("quick", "out", epochs=2).epochs
        2
    """
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: choose from {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return replace(ValidationConfig(out_dir=Path(out_dir), preset=preset), **values)
