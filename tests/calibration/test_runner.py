"""Running the suite: network samples appended as measured, interruption and --resume lose nothing."""
from __future__ import annotations

import json
import textwrap

import pytest

from green_estimate.calibration.calibrator import calibrate
from green_estimate.calibration.cases import Case, load_suite
from green_estimate.calibration.incontext import OP_FIELDS, TIME
from green_estimate.calibration.runner import RunSettings, read_samples, run_suite
from green_estimate.errors import ConfigError, GreenEstimateError, UsageError
from green_estimate.meters.fake import FakeMeter

SUITE = textwrap.dedent("""
    [settings]
    seed = 1
    max_step_flops = 2e7
    [[group]]
    class = "network"
    kind = "network"
    full = 6
    quick = 3
    [group.grid]
    family = ["mlp"]
    seed = [1, 2, 3, 4, 5, 6, 7, 8]
    batch = [4, 8]
    optimizer = ["adam", "sgd"]
    [[group]]
    class = "network"
    kind = "network"
    full = 5
    quick = 2
    [group.grid]
    family = ["cnn"]
    seed = [1, 2, 3, 4, 5, 6]
    batch = [2]
    optimizer = ["adam"]
""")
FAST = RunSettings(warmup_s=0.0, window_s=0.002, repeats=2, max_step_flops=2e7)


@pytest.fixture
def suite_file(tmp_path):
    p = tmp_path / "suite.toml"
    p.write_text(SUITE)
    return p


def test_suite_draws_are_seeded_and_sized(suite_file):
    a, b = load_suite(suite_file), load_suite(suite_file)
    assert [c.id for c in a.cases] == [c.id for c in b.cases]
    assert len(a.cases) == 6 + 5 and len(load_suite(suite_file, quick=True).cases) == 3 + 2
    assert {c.p()["family"] for c in a.cases} == {"mlp", "cnn"}
    # families take turns (drift over the run is shared, not one family's): mlp, cnn, mlp, … then the
    # rest of the larger group
    assert [c.p()["family"] for c in a.cases] == ["mlp", "cnn"] * 5 + ["mlp"]


def test_unknown_kind_is_a_config_error(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(SUITE.replace('kind = "network"', 'kind = "conv2d"', 1))
    with pytest.raises(ConfigError, match="kind 'conv2d' is unknown"):
        load_suite(p)


def test_samples_carry_in_context_op_times_and_fake_energy(suite_file, tmp_path):
    cases = load_suite(suite_file).cases[:2]
    meter = FakeMeter(power_w=50.0)
    samples = run_suite(cases, meter, tmp_path / "s.jsonl", {"device_name": "cpu", "meter": "fake"}, settings=FAST)
    s = samples[0]
    assert s["kind"] == "network" and s["op_fields"] == list(OP_FIELDS)
    # every counted op of a plain network is matched to its profiler event: a positive time each
    assert s["unmatched_ops"] == 0
    assert all(row[TIME] is not None and row[TIME] > 0 for row in s["ops"])
    # the profiled ops ran inside the step, so together they take no longer than a few unprofiled steps
    assert sum(row[TIME] for row in s["ops"]) < 5 * s["time_s"]
    # energy of the fake meter = 50 W × time, window by window
    for t, e in zip(s["time_s_repeats"], s["energy_j_repeats"]):
        assert e == pytest.approx(50.0 * t, rel=1e-6)


def test_interrupted_run_resumes_without_losing_a_sample(suite_file, tmp_path):
    cases = load_suite(suite_file, quick=True).cases
    path = tmp_path / "s.jsonl"
    header = {"device_name": "cpu", "meter": "fake"}

    def stop_after_3(done, total, case):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(cases, FakeMeter(), path, header, settings=FAST, on_progress=stop_after_3)
    h, first = read_samples(path)
    assert h["meter"] == "fake" and len(first) == 3
    # a crash mid-write leaves a torn last line (here even newline-terminated): dropped, not fatal
    with open(path, "a") as fh:
        fh.write('{"type": "sample", "case": "tor\n')
    with pytest.raises(GreenEstimateError, match="--resume"):
        run_suite(cases, FakeMeter(), path, header, settings=FAST)
    all_samples = run_suite(cases, FakeMeter(), path, header, settings=FAST, resume=True)
    assert len(all_samples) == len(cases)
    _, reread = read_samples(path)
    assert [s["case"] for s in reread] == [c.id for c in cases]
    assert reread[:3] == first  # the first three were kept, not re-measured
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_resume_refuses_another_meter(suite_file, tmp_path):
    cases = load_suite(suite_file).cases[:1]
    path = tmp_path / "s.jsonl"
    run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "fake"}, settings=FAST)
    with pytest.raises(GreenEstimateError, match="measured with meter 'fake'"):
        run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "rapl"}, settings=FAST, resume=True)


def test_resume_refuses_a_file_whose_op_rows_lack_this_versions_fields(suite_file, tmp_path):
    cases = load_suite(suite_file).cases[:1]
    path = tmp_path / "s.jsonl"
    older = list(OP_FIELDS[:-1])  # written before the last field existed
    run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "fake", "op_fields": older}, settings=FAST)
    with pytest.raises(GreenEstimateError, match=f"op rows lack {OP_FIELDS[-1]}\\); use another --out or drop --resume"):
        run_suite(cases, FakeMeter(), path, {"device_name": "cpu", "meter": "fake", "op_fields": list(OP_FIELDS)},
                  settings=FAST, resume=True)


def test_calibrate_writes_an_in_context_profile(suite_file, tmp_path):
    out = tmp_path / "p.json"
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3, probe=False)
    prof = json.loads(out.read_text())
    assert prof["schema"] == "green-estimate/profile@1" and prof["method"] == "in-context"
    assert {"linear", "elementwise"} <= set(prof["classes"])
    assert prof["provenance"] == "estimated" and prof["time_provenance"] == "measured"
    assert prof["meter"]["name"] == "fake" and prof["sample_count"] == 11
    for key in ("device", "torch_version", "dtype", "idle_power_w", "created_utc", "default_class", "step_model"):
        assert key in prof
    step = prof["step_model"]
    assert step["form"] == "incontext@1" and len(step["time_s"]["params"]) == len(step["features"])
    assert step["interval"]["families"] == ["cnn", "mlp"] and step["interval"]["n"] == 11
    # the fake meter draws 20 W whatever runs: every class's fitted power is 20 W
    for entry in prof["classes"].values():
        assert entry["power_w"] == pytest.approx(20.0, rel=1e-3)
    assert res.samples_path.exists() and res.samples_path.name == "p.samples.jsonl"


class MinuteClock:
    """A clock (seconds) that moves one minute each time it is read."""

    def __init__(self) -> None:
        self.t = -60.0

    def __call__(self) -> float:
        self.t += 60.0
        return self.t


def test_a_cpu_calibration_records_its_probe_and_what_it_borrowed(suite_file, tmp_path, monkeypatch, capsys):
    # the suite's networks have no op past the cache: the GEMM-like classes take that rate from the
    # shipped CPU profile, carried by the probed bandwidth (here another CPU, half as fast)
    import green_estimate.calibration.calibrator as calibrator
    from green_estimate.profile_store import shipped_cpu_profile

    source = shipped_cpu_profile()
    here = {**source.probe, "fingerprint": {**source.probe["fingerprint"], "cpu_model": "Intel Xeon"},
            "bandwidth_bytes_per_s": source.probe["bandwidth_bytes_per_s"] / 2}
    monkeypatch.setattr(calibrator, "_cpu_probe", lambda: here)
    out = tmp_path / "p.json"
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3)
    prof = json.loads(out.read_text())
    assert prof["probe"] == here
    shipped = source.data["classes"]["linear"]["time_s"]
    want = 2.0 * shipped["params"][shipped["features"].index("bytes_past_cache")]
    assert prof["borrowed"]["from"] == source.name and prof["borrowed"]["ratio"] == pytest.approx(2.0)
    assert prof["borrowed"]["ratio_basis"] == "32 MiB copy"
    assert prof["borrowed"]["classes"]["linear"] == {"bytes_past_cache": pytest.approx(want)}
    linear = prof["classes"]["linear"]["time_s"]
    assert linear["params"][linear["features"].index("bytes_past_cache")] == pytest.approx(want)
    assert prof["classes"]["linear"]["energy_j"]["features"] == linear["features"]
    # and the command says so
    from green_estimate.cli.calibrate import _render

    _render(res)
    said = " ".join(capsys.readouterr().out.split())
    assert f"Borrowed from {source.name} (32 MiB copy: ×2.00): linear: bytes_past_cache" in said


def test_a_cpu_calibration_prices_fresh_pages_at_the_probes_measured_costs(suite_file, tmp_path, monkeypatch, capsys):
    # the probe measured 2e-10 s/byte to fault a new tensor's pages in and 7e-11 to unmap them: the
    # memory-bound classes take the first as it is, the GEMM-like ones fit their own, the step model
    # holds the second; without those figures in the probe the step model fits one cost for both
    import green_estimate.calibration.calibrator as calibrator
    from green_estimate.calibration.fit import BYTE_CLASSES
    from green_estimate.profile_store import shipped_cpu_profile

    here = {**shipped_cpu_profile().probe, "fresh_page_s_per_byte": 2e-10, "unmap_s_per_byte": 7e-11}
    monkeypatch.setattr(calibrator, "_cpu_probe", lambda: here)
    out = tmp_path / "p.json"
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3)
    prof = json.loads(out.read_text())
    assert prof["fresh_pages"]["fault_s_per_byte"] == 2e-10 and prof["fresh_pages"]["unmap_s_per_byte"] == 7e-11
    assert prof["fresh_pages"]["from"] == "device probe"
    for cls, entry in prof["classes"].items():
        m = entry["time_s"]
        if cls in BYTE_CLASSES:
            assert m["params"][m["features"].index("bytes_fresh")] == 2e-10
        else:
            assert "bytes_fresh" not in m["features"]
    step = prof["step_model"]
    assert step["time_s"]["params"][step["features"].index("fresh_bytes")] == 7e-11
    from green_estimate.cli.calibrate import _render

    _render(res)
    said = " ".join(capsys.readouterr().out.split())
    assert "measured by the device probe: 0.200 ns/byte to fault them in" in said and "0.070 ns/byte to unmap" in said

    old = {k: v for k, v in here.items() if k not in ("fresh_page_s_per_byte", "unmap_s_per_byte")}
    monkeypatch.setattr(calibrator, "_cpu_probe", lambda: old)
    calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3, resume=True)
    prof = json.loads(out.read_text())
    assert "fresh_pages" not in prof
    assert not any("bytes_fresh" in e["time_s"]["features"] for e in prof["classes"].values())


def test_max_minutes_stops_measuring_and_the_profile_says_how_many_networks_it_has(suite_file, tmp_path, capsys):
    from green_estimate.cli.calibrate import _render

    out, cases = tmp_path / "p.json", load_suite(suite_file).cases
    # the clock is read at the call (0 min) and before each network (1, 2, … min): under 9.5 minutes, 9 networks
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                    probe=False, max_minutes=9.5, clock=MinuteClock())
    _, samples = read_samples(res.samples_path)
    assert [s["case"] for s in samples] == [c.id for c in cases[:9]]  # the suite's order: 5 mlp, 4 cnn
    assert (res.networks_measured, res.networks_in_suite, res.stopped_at_max_minutes) == (9, 11, 9.5)
    prof = json.loads(out.read_text())
    assert prof["suite_networks"] == {"measured": 9, "in_suite": 11} and prof["sample_count"] == 9
    assert prof["step_model"]["interval"]["families"] == ["cnn", "mlp"]
    d = res.to_dict()
    assert (d["networks_measured"], d["networks_in_suite"], d["stopped_at_max_minutes"]) == (9, 11, 9.5)
    capsys.readouterr()
    _render(res)
    assert ("Stopped at --max-minutes 9.5: 9 of the suite's 11 networks measured, and the profile fitted on those. "
            "Run the same command with --resume") in " ".join(capsys.readouterr().out.split())
    # predict names the partial profile, in words and in its JSON (valid against prediction@1)
    from typer.testing import CliRunner

    from green_estimate.cli.app import app
    from tests.jsonschemas import assert_valid

    model = ["predict", "green_estimate/examples/simple_cnn.py", "--profile", str(out), "--steps", "10"]
    said = CliRunner().invoke(app, model, env={"COLUMNS": "200"})
    assert said.exit_code == 0, said.output
    assert ("Partial profile: fitted on 9 of its suite's 11 networks (calibrate --max-minutes stopped the measuring)"
            in said.output)
    doc = json.loads(CliRunner().invoke(app, [*model, "--json"]).output)
    assert doc["profile"]["suite_networks"] == {"measured": 9, "in_suite": 11}
    assert_valid(doc, "prediction@1")
    # --resume without a limit measures the 2 left, keeps the 9, and refits on all 11
    res = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                    probe=False, resume=True)
    _, again = read_samples(res.samples_path)
    assert again[:9] == samples and [s["case"] for s in again] == [c.id for c in cases]
    assert (res.networks_measured, res.measured_now, res.stopped_at_max_minutes) == (11, 2, None)
    assert json.loads(out.read_text())["suite_networks"] == {"measured": 11, "in_suite": 11}
    assert "Partial profile" not in CliRunner().invoke(app, model, env={"COLUMNS": "200"}).output


def test_a_limit_that_leaves_too_few_networks_to_fit_says_to_resume(suite_file, tmp_path, monkeypatch):
    out = tmp_path / "p.json"
    with pytest.raises(GreenEstimateError, match=r"--max-minutes 2.5 stopped the run after 2 of 11 networks, too few "
                                                 r"to fit: every architecture family needs 2 networks; cnn has 1, mlp "
                                                 r"has 1. Run the same command with --resume"):
        calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                  probe=False, max_minutes=2.5, clock=MinuteClock())
    assert not out.exists() and len(read_samples(tmp_path / "p.samples.jsonl")[1]) == 2  # both kept
    # every family has 2 networks, and the fit still finds too few: its own reason, and the same advice
    import green_estimate.calibration.calibrator as calibrator

    def too_few(samples, **_):
        raise GreenEstimateError(f"calibration produced no linear model ({len(samples)} samples)")

    monkeypatch.setattr(calibrator, "fit_profile", too_few)
    with pytest.raises(GreenEstimateError, match=r"after 5 of 11 networks, too few to fit: calibration produced no "
                                                 r"linear model \(5 samples\). Run the same command with --resume"):
        calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                  probe=False, resume=True, max_minutes=3.5, clock=MinuteClock())
    # without a limit the fit's error is its own
    with pytest.raises(GreenEstimateError, match=r"^calibration produced no linear model \(11 samples\)$"):
        calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                  probe=False, resume=True)


@pytest.mark.parametrize("minutes", [0.0, -1.0, float("nan")])
def test_max_minutes_must_be_positive(suite_file, tmp_path, minutes):
    with pytest.raises(UsageError, match="give a positive number of minutes"):
        calibrate(out=tmp_path / "p.json", meter=FakeMeter(), suite_path=suite_file, settings=FAST,
                  probe=False, max_minutes=minutes)
    assert not (tmp_path / "p.samples.jsonl").exists()


def test_the_pace_is_timed_before_each_network_and_summarised_in_the_profile(suite_file, tmp_path):
    from green_estimate.pace import PACE_REFERENCE, pace_summary

    cases = load_suite(suite_file).cases[:3]
    order, paces = [], iter([0.002, 0.001, 0.004])

    class OrderMeter(FakeMeter):
        def read(self):
            order.append("read")
            return super().read()

    def pace_timer() -> float:
        order.append("pace")
        return next(paces)

    samples = run_suite(cases, OrderMeter(), tmp_path / "s.jsonl", {"device_name": "cpu", "meter": "fake"},
                        settings=FAST, pace_timer=pace_timer)
    assert [s["pace_s"] for s in samples] == [0.002, 0.001, 0.004]
    assert order[0] == "pace" and order.count("pace") == 3 and order[-1] == "read"   # before each network
    assert [s["pace_s"] for s in read_samples(tmp_path / "s.jsonl")[1]] == [0.002, 0.001, 0.004]   # written too
    assert pace_summary(samples) == {"reference": list(PACE_REFERENCE), "median_s": 0.002, "low_s": 0.001,
                                     "high_s": 0.004, "networks": 3}
    assert pace_summary([{"time_s": 1.0}]) is None


def test_a_cpu_calibration_stores_the_pace_it_measured_at(suite_file, tmp_path, capsys):
    from green_estimate.cli.calibrate import _render

    out = tmp_path / "p.json"
    result = calibrate(out=out, meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
                       probe=False)
    pace = json.loads(out.read_text())["pace"]
    samples = read_samples(out.with_name("p.samples.jsonl"))[1]
    got = sorted(s["pace_s"] for s in samples)   # the real reference step, timed before each of the 11 networks
    assert pace["networks"] == 11 and pace["median_s"] == got[5] and (pace["low_s"], pace["high_s"]) == (got[0], got[-1])
    _render(result)   # calibrate's output says how far the machine's pace moved
    printed = " ".join(capsys.readouterr().out.split())
    assert f"took ×{got[0] / got[5]:.2f}–×{got[-1] / got[5]:.2f} of its median" in printed
    calibrate(out=tmp_path / "q.json", meter=FakeMeter(power_w=20.0), suite_path=suite_file, settings=FAST, folds=3,
              probe=False, pace=False)
    assert "pace" not in json.loads((tmp_path / "q.json").read_text())


def test_a_step_that_does_not_fit_in_gpu_memory_is_measured_at_half_the_batch(suite_file, monkeypatch):
    # the GPU suite's device-bound networks on a small GPU: batch 16 and 8 run out of memory, 4 fits
    import torch

    import green_estimate.calibration.runner as runner

    case = load_suite(suite_file, quick=True).cases[0]
    case = Case(case.cls, case.kind, tuple((k, 16 if k == "batch" else v) for k, v in case.params))
    tried = []

    def fake_measure(params, meter, device, **kw):
        tried.append(params["batch"])
        if params["batch"] > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return {"batch": params["batch"], "time_s": 1e-3}

    monkeypatch.setattr(runner, "measure_network", fake_measure)
    rec = runner.measure_case(case, FakeMeter(), "cuda:0", FAST)
    assert tried == [16, 8, 4] and rec["batch"] == 4 and dict(rec["params"])["batch"] == 16  # the drawn case, the run batch
    tried.clear()
    monkeypatch.setattr(runner, "MIN_BATCH", 8)
    with pytest.raises(GreenEstimateError, match="does not fit in the memory of cuda:0 even at batch 8"):
        runner.measure_case(case, FakeMeter(), "cuda:0", FAST)
    assert tried == [16, 8]


def test_the_quick_suite_takes_its_own_window_length_and_repeats():
    from green_estimate.calibration.calibrator import _run_settings

    s = {"warmup_s": 0.2, "quick_warmup_s": 0.1, "window_s": 0.25, "quick_window_s": 0.15, "repeats": 5,
         "quick_repeats": 3}
    quick, full = _run_settings(s, quick=True), _run_settings(s, quick=False)
    assert (quick.warmup_s, quick.window_s, quick.repeats) == (0.1, 0.15, 3)
    assert (full.warmup_s, full.window_s, full.repeats) == (0.2, 0.25, 5)
    no_quick_keys = _run_settings({"warmup_s": 0.2, "window_s": 0.25}, quick=True)
    assert (no_quick_keys.warmup_s, no_quick_keys.window_s) == (0.2, 0.25)  # the suite's own
