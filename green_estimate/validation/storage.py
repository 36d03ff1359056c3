"""The study's storage and the trials workers claim in it.

Several workers (processes here, or machines sharing a database) run one study. Before a trial
trains it *claims* its place (:func:`claim`): trial numbers are handed out by the storage in order,
so a trial that finds ``trials`` finished-or-running trials below its number is surplus, and one
whose parameters equal a lower-numbered trial's is a duplicate. A killed worker's trial is released
(:func:`release_dead_trials`) so it does not count in later claims.
"""
from __future__ import annotations

import os
import socket
import time
import warnings
from datetime import datetime

from green_estimate.errors import UsageError

HEARTBEAT_S = 60
PENDING_WAIT_S = 30.0  # how long a claim waits for a lower trial, started this recently, to choose its params


def open_storage(url: str):
    """An Optuna storage: RDB with heartbeats (trials of a killed process are marked failed), or a journal file.

    ``journal:PATH`` is Optuna's file journal (``JournalStorage`` over ``JournalFileBackend``): several
    processes (or machines sharing the file over NFS) append to one log; it has no heartbeat, so a
    killed worker's trial stays "running" and is left out of the report.
    """
    import optuna

    if url.startswith("journal:"):
        return _journal_storage(url[len("journal:"):])
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # Heartbeats are marked experimental in Optuna; they are what marks a killed worker's trial failed.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=3 * HEARTBEAT_S)
    except Exception as e:  # sqlalchemy raises many types; each means the URL cannot be used
        raise UsageError(
            f"--storage {url!r} cannot be opened ({type(e).__name__}: {e}). Give a file path, "
            "sqlite:///path/to/file.db, or a database URL whose driver is installed (e.g. postgresql://...)"
        ) from e


def _journal_storage(path: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.JournalStorage(JournalFileBackend(path))
    except OSError as e:
        raise UsageError(f"--storage {path!r}: the journal file cannot be opened ({e.strerror}): give a writable path") from e


def claim(trial, params: dict, target: int) -> str | None:
    """Whether ``trial`` (an ``optuna.Trial`` that has suggested ``params``) should run.

    Returns None to run it, ``"surplus"`` when ``target`` trials below its number are finished or
    running, or ``"duplicate of trial N"`` when a lower-numbered finished or running trial has the same
    parameters. A lower trial started in the last minute that has not yet chosen all its parameters is
    waited for (up to :data:`PENDING_WAIT_S`): trial numbers are handed out in order, so comparing with
    lower numbers only leaves no race between two workers.
    """
    from optuna.trial import TrialState

    deadline = time.monotonic() + PENDING_WAIT_S
    while True:
        lower = [t for t in trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
                 if t.number < trial.number]
        pending = [t for t in lower if t.state == TrialState.RUNNING and len(t.params) < len(params) and _recent(t)]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(lower) >= target:
        return "surplus"
    for t in lower:
        if t.params == params:
            return f"duplicate of trial {t.number}"
    return None


def _recent(t) -> bool:
    start = t.datetime_start
    if start is None:
        return True
    now = datetime.now(start.tzinfo) if start.tzinfo else datetime.now()
    return (now - start).total_seconds() < 60


def release_dead_trials(study) -> list[int]:
    """Mark failed the running trials of worker processes of *this* machine that no longer exist.

    A killed worker leaves its trial "running": RDB storages fail it by heartbeat after a grace period,
    the journal storage never does, and a running trial counts in every later claim. Trials of other
    machines are left to their heartbeat. Returns the trial numbers released.
    """
    from optuna.trial import TrialState

    host, released = socket.gethostname(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = str(t.user_attrs.get("worker", ""))
        name, _, pid = who.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            released.append(t.number)
    return released


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def worker_id() -> str:
    """``host:pid`` of this process, stored with each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def completed_trials(study) -> list:
    """The study's finished trials (failed or interrupted ones are left out)."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
