"""Report notes, JSON and Markdown from hand-built rows."""
from __future__ import annotations

from dataclasses import replace

from green_estimate.validation.report import build_report, render_markdown

from .rows_helper import row

CONFIG = {"strategies": ["grid", "random"], "device": "cpu", "preset": "quick", "trials": 2, "epochs": 1, "batch_size": 8}
DATASET = {"name": "digits", "input_shape": [1, 16, 16], "n_train": 10, "n_test": 5, "source": "test"}
METER = {"name": "rapl", "provenance": "measured", "device": "CPU package 0"}


def _rows():
    return [row("grid", 0, acc=0.5), row("grid", 1, acc=0.7), row("random", 0, acc=0.9)]


def test_notes_say_what_the_numbers_are_and_are_not():
    report = build_report(_rows(), config=CONFIG, dataset=DATASET, meter=METER)
    text = " ".join(report.notes)
    assert "ESTIMATED" not in text  # every row is measured
    assert "idle power not subtracted" in text
    assert "Few trials per strategy (grid, random < 10)" in text
    assert "competed for the CPU" not in text

    busy = [replace(r, provenance="estimated", load_avg_1m=3.5, torch_threads=2) for r in _rows()[:2]] + _rows()[2:]
    gpu = build_report(busy, config={**CONFIG, "device": "cuda:0"}, dataset=DATASET, meter=METER, unfinished={"grid": 1})
    text = " ".join(gpu.notes)
    assert "ESTIMATED" in text
    assert "2 of 3 trials ran while other work competed for the CPU" in text
    assert "the GPU's energy is not in these numbers" in text
    assert "did not finish" in text and "grid: 1" in text


def test_json_and_markdown_carry_the_numbers():
    report = build_report(_rows(), config=CONFIG, dataset=DATASET, meter=METER)
    doc = report.to_dict()
    assert doc["schema"] == "green-estimate/validation@1"
    assert [s["strategy"] for s in doc["strategies"]] == ["grid", "random"]
    assert doc["strategies"][0]["best_accuracy"] == 0.7 and doc["strategies"][1]["trials_to_within_1pt"] == 1
    assert len(doc["trials"]) == 3 and doc["trials"][0]["measured_energy_j"] == 10.0
    md = render_markdown(report)
    assert "| grid | 2 | 70.0% |" in md and "| random | 1 | 90.0% |" in md
    assert md.count("| 1 |") >= 1 and "## The study's claims" in md


def test_report_names_the_pricing_profile_and_a_foreign_device():
    foreign = {"name": "gpu-box", "device": "NVIDIA A100", "provenance": "measured", "origin": "local",
               "other_device": True, "note": "Predictions were priced by profile gpu-box, measured on another device "
                                             "(NVIDIA A100), not on this CPU X: calibrate here."}
    report = build_report(_rows(), config={**CONFIG, "profile": foreign}, dataset=DATASET, meter=METER)
    assert foreign["note"] in report.notes
    md = render_markdown(report)
    assert "- Predictions priced by profile `gpu-box` (measured), measured on **another device**: NVIDIA A100" in md
    assert report.to_dict()["config"]["profile"]["other_device"] is True
    same = build_report(_rows(), config={**CONFIG, "profile": {**foreign, "other_device": False, "note": ""}},
                        dataset=DATASET, meter=METER)
    assert not any("another device" in n for n in same.notes)
    assert "measured on this device: NVIDIA A100" in render_markdown(same)


def test_machine_pace_in_notes_json_and_markdown():
    rows = [row("grid", 0, pace=1.05), row("grid", 1, pace=1.5, meas_s=2.0), row("random", 0, pace=0.98)]
    report = build_report(rows, config=CONFIG, dataset=DATASET, meter=METER)
    text = " ".join(report.notes)
    assert "1 of 3 trials ran while this machine took more than ×1.25" in text and "×0.98–×1.50" in text
    doc = report.to_dict()
    assert doc["machine_pace"]["off_pace"] == 1 and doc["machine_pace"]["at_pace"]["trials"] == 2
    assert doc["machine_pace"]["at_pace"]["median_ape_time"] == 0.0   # the two at pace were exact
    assert [t["machine_pace"] for t in doc["trials"]] == [1.05, 1.5, 0.98]
    md = render_markdown(report)
    assert "median ×1.05, ×0.98–×1.50; 1 of 3 trials beyond ×1.25" in md and "Trials at pace only (2):" in md
    assert "| ×1.50 |" in md
    table = md.split("## Trials")[1].strip().splitlines()   # header, separator, one line per trial
    assert "machine pace |" in table[0] and len(table) == 2 + len(rows)
    assert {line.count(" | ") for line in table if not line.startswith("|---")} == {table[0].count(" | ")}
    assert table[1].count("---") == table[0].count(" | ") + 1
    steady = build_report(_rows(), config=CONFIG, dataset=DATASET, meter=METER)   # no pace measured
    assert steady.to_dict()["machine_pace"] is None and "Machine pace" not in render_markdown(steady)
    assert not any("reference step" in n for n in steady.notes)


def test_trials_that_computed_on_subnormal_floats_are_named_with_their_errors():
    rows = [replace(row("grid", 0, pred_s=1.0, meas_s=2.0), subnormal_values=12),
            replace(row("grid", 1, pred_s=1.0, meas_s=1.6), subnormal_values=3),
            replace(row("random", 0, pred_s=1.0, meas_s=1.0), subnormal_values=0)]
    text = " ".join(build_report(rows, config=CONFIG, dataset=DATASET, meter=METER).notes)
    # theirs: median of -50% and -37.5% = -43.75%; the other's 0
    assert "2 of 3 trials computed on subnormal floats" in text and "theirs -43.8% and the others' +0.0%" in text
    assert "flushed to zero" not in text  # no trial's slowdown was measured
    assert "subnormal" not in " ".join(build_report(_rows(), config=CONFIG, dataset=DATASET, meter=METER).notes)
    gpu = build_report(rows, config={**CONFIG, "device": "cuda:0"}, dataset=DATASET, meter=METER)
    assert "subnormal" not in " ".join(gpu.notes)
    trials = build_report(rows, config=CONFIG, dataset=DATASET, meter=METER).to_dict()["trials"]
    assert [t["subnormal_values"] for t in trials] == [12, 3, 0]


def test_a_trial_slowed_by_denormals_is_named_though_none_was_left_after_its_last_step():
    rows = [replace(row("grid", 0, pred_s=1.0, meas_s=1.25), subnormal_values=0, denormal_slowdown=1.30),
            replace(row("grid", 1, pred_s=1.0, meas_s=2.0), subnormal_values=5, denormal_slowdown=1.60),
            replace(row("random", 0, pred_s=1.0, meas_s=1.1), subnormal_values=0, denormal_slowdown=1.05)]
    report = build_report(rows, config=CONFIG, dataset=DATASET, meter=METER)
    text = " ".join(report.notes)
    # theirs: median of -20% and -50% = -35%; the other's 1/1.1 - 1 = -9.09%; below 1.15 is not slowed
    assert "2 of 3 trials computed on subnormal floats" in text
    assert "×1.30–×1.60 as long as with such values flushed to zero" in text
    assert "theirs -35.0% and the others' -9.1%" in text
    assert [t["denormal_slowdown"] for t in report.to_dict()["trials"]] == [1.30, 1.60, 1.05]
