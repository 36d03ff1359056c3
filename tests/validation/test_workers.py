"""Several worker processes run one study through a shared storage: nothing lost, nothing twice."""
from __future__ import annotations

import csv
import os
import time

import optuna
import pytest
from optuna.trial import TrialState

from green_estimate.errors import UsageError
from green_estimate.validation import preset_config, run_validation
from green_estimate.validation.search import open_storage

from .conftest import FakePredictor, TickMeter

TRIALS = 4


class SlowPredictor(FakePredictor):
    """FakePredictor taking 0.3 s, so both workers are busy at once (a module-level class: it is pickled)."""

    def __call__(self, build_model, **kw) -> dict:
        time.sleep(0.3)
        return super().__call__(build_model, **kw)


def _trials(config, strategy):
    study = optuna.load_study(study_name=config.study_name(strategy), storage=open_storage(config.storage_url()))
    return study.get_trials(deepcopy=False)


def _check_complete_and_unique(config, strategy, trials_wanted):
    trials = _trials(config, strategy)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == trials_wanted, [(t.number, t.state, t.user_attrs.get("skipped")) for t in trials]
    assert len({t.number for t in done}) == len(done)  # Optuna numbers each trial once ...
    assert len({tuple(sorted(t.params.items())) for t in done}) == len(done)  # ... and no point was trained twice
    # every other trial was skipped before it trained, and says why; none failed or is left running
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.PRUNED and t.user_attrs.get("skipped") for t in others), others
    return done


def test_two_workers_run_one_study_with_nothing_lost_or_duplicated(tmp_path, small_digits):
    config = preset_config("quick", tmp_path / "out", trials=TRIALS, epochs=1, batch_size=32,
                           strategies=("random", "grid"), workers=2)
    report = run_validation(config, meter=TickMeter(), meter_factory=TickMeter, predict_fn=SlowPredictor(),
                            dataset=small_digits)
    workers = set()
    for strategy in ("random", "grid"):
        done = _check_complete_and_unique(config, strategy, TRIALS)
        workers |= {t.user_attrs["worker"] for t in done}
    assert len(workers) == 2  # both processes trained trials
    with open(tmp_path / "out" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["strategy"], int(r["trial"])) for r in rows) == sorted(
        (r.strategy, r.trial) for r in report.rows)
    assert len(rows) == 2 * TRIALS
    assert any("2 worker processes" in n for n in report.notes)
    assert not any("did not finish" in n for n in report.notes)  # skipped trials are not unfinished ones

    # a resumed, longer study continues where it stopped: the old trials kept, only the new ones run
    longer = preset_config("quick", tmp_path / "out", trials=TRIALS + 2, epochs=1, batch_size=32,
                           strategies=("random", "grid"), workers=2, storage=config.storage)
    before = {t.number: t.params for t in _trials(config, "random") if t.state == TrialState.COMPLETE}
    again = run_validation(longer, meter=TickMeter(), meter_factory=TickMeter, predict_fn=SlowPredictor(),
                           dataset=small_digits)
    done = _check_complete_and_unique(longer, "random", TRIALS + 2)
    assert {t.number: t.params for t in done if t.number in before} == before
    assert len(again.rows) == 2 * (TRIALS + 2)


def test_workers_need_a_shared_storage_and_their_own_meters(tmp_path, small_digits):
    with pytest.raises(UsageError, match="in-memory"):
        preset_config("quick", tmp_path, workers=2, storage="sqlite:///:memory:")
    with pytest.raises(UsageError, match="--workers 0"):
        preset_config("quick", tmp_path, workers=0)
    config = preset_config("quick", tmp_path, trials=1, epochs=1, batch_size=32, strategies=("random",), workers=2)
    with pytest.raises(UsageError, match="its own meter"):
        run_validation(config, meter=TickMeter(), predict_fn=FakePredictor(), dataset=small_digits)


def test_two_workers_share_optunas_journal_file(tmp_path, small_digits):
    config = preset_config("quick", tmp_path / "out", trials=TRIALS, epochs=1, batch_size=32, strategies=("random",),
                           workers=2, storage=str(tmp_path / "study.journal"))
    assert config.storage_url() == f"journal:{tmp_path / 'study.journal'}"
    report = run_validation(config, meter=TickMeter(), meter_factory=TickMeter, predict_fn=SlowPredictor(),
                            dataset=small_digits)
    done = _check_complete_and_unique(config, "random", TRIALS)
    assert len({t.user_attrs["worker"] for t in done}) == 2
    assert (tmp_path / "study.journal").stat().st_size > 0 and len(report.rows) == TRIALS


def test_a_killed_local_workers_running_trial_is_released(tmp_path):
    import socket
    import subprocess
    import sys

    from green_estimate.validation.search import release_dead_trials

    storage = open_storage(f"journal:{tmp_path / 'j.journal'}")  # no heartbeat here
    study = optuna.create_study(study_name="s", storage=storage)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = study.ask()
    dead.set_user_attr("worker", f"{socket.gethostname()}:{int(gone.stdout)}")
    alive = study.ask()
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    elsewhere = study.ask()
    elsewhere.set_user_attr("worker", "another-host:1")
    assert release_dead_trials(study) == [dead.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states == {dead.number: TrialState.FAIL, alive.number: TrialState.RUNNING,
                      elsewhere.number: TrialState.RUNNING}
