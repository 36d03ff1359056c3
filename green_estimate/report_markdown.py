"""Markdown renderings of predictions, for pull-request comments (no rich, no typer)."""
from __future__ import annotations

from green_estimate.units import si as _fmt  # the one SI formatter


def prediction_markdown(dicts: list[dict]) -> str:
    """A Markdown section per prediction, and a comparison table when there are several."""
    lines: list[str] = []
    for d in dicts:
        tot, prof, plan = d["total"], d["profile"], d["plan"]
        conf = int(round(100 * d["confidence"]))
        lines += [
            f"### Training energy: `{d['model']}`", "",
            f"Profile **{prof['name']}** ({prof['device']}), energy **{prof['provenance']}**; "
            f"batch {plan['batch_size']}, {plan['steps']:,} steps.", "",
            f"| | energy | {conf}% interval | time |", "|---|---:|---:|---:|",
            f"| per step | {_fmt(d['per_step']['energy_j'], 'J')} | {_fmt(d['per_step']['energy_j_interval'][0], 'J')} – "
            f"{_fmt(d['per_step']['energy_j_interval'][1], 'J')} | {_fmt(d['per_step']['time_s'], 's')} |",
            f"| whole run | {tot['energy_kwh']:.4g} kWh | {tot['energy_kwh_interval'][0]:.3g} – {tot['energy_kwh_interval'][1]:.3g} kWh"
            f" | {_fmt(tot['time_s'], 's')} |", "",
        ]
        if tot["co2e_g"] is not None:
            lines += [f"CO2e: **{_fmt(tot['co2e_g'], 'g')}** at {d['grid_intensity']['g_per_kwh']:.0f} g/kWh.", ""]
        lines += ["| class | energy/step | share |", "|---|---:|---:|"]
        lines += [f"| {c} | {_fmt(r['energy_j_per_step'], 'J')} | {100 * r['share']:.1f}% |" for c, r in d["by_class"].items()]
        lines += [""] + [f"> {n}" for n in d["notes"]] + [""]
    if len(dicts) > 1:
        from green_estimate.prediction import ratios_to_first

        lines += ["| model | kWh | ratio to first |", "|---|---:|---:|"]
        lines += [f"| `{d['model']}` | {d['total']['energy_kwh']:.4g} | {r:.3f}× |" for d, r in zip(dicts, ratios_to_first(dicts))]
    return "\n".join(lines).rstrip() + "\n"


def _pct(x: float | None, *, signed: bool = True) -> str:
    if x is None:
        return "–"
    text = f"{100 * x:+.1f}%" if signed else f"{100 * x:.1f}%"
    return "±0.0%" if text in ("+0.0%", "-0.0%") else text


def _maybe(x: float | None, unit: str) -> str:
    return "–" if x is None else _fmt(x, unit)


def _profile(prediction: dict | None) -> str:
    prof = (prediction or {}).get("profile") or {}
    return f"**{prof.get('name')}** ({prof.get('device')}, {prof.get('provenance')})" if prof else "–"


def comparison_markdown(baseline: dict, head: dict) -> str:
    """Base vs head side by side per layer class, from the ``baseline`` object of ``check@1``.

    Args:
        baseline: ``check@1``'s ``baseline`` (``Comparison.to_dict()``).
        head: the head ``prediction@1`` dict.
    """
    base = baseline.get("prediction")
    lines = [f"#### Base vs head: `{baseline['label']}` → this change", ""]
    if base is None:
        return "\n".join([*lines, f"No baseline: {baseline.get('reason')}", ""])
    lines += [
        "| class | energy/step base | head | change | time/step base | head | change | share base | head |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in baseline["by_class"]:
        lines.append(
            f"| {row['class']} | {_maybe(row['base_energy_j'], 'J')} | {_maybe(row['head_energy_j'], 'J')} "
            f"| {_pct(row['energy_j_change'])} | {_maybe(row['base_time_s'], 's')} | {_maybe(row['head_time_s'], 's')} "
            f"| {_pct(row['time_s_change'])} | {_pct(row['base_share'], signed=False)} "
            f"| {_pct(row['head_share'], signed=False)} |"
        )
    bt, ht = base["total"], head["total"]
    time_change = ht["time_s"] / bt["time_s"] - 1 if bt.get("time_s") else None
    lines += [
        f"| **whole run** | **{_fmt(bt['energy_j'], 'J')}** | **{_fmt(ht['energy_j'], 'J')}** "
        f"| **{_pct(baseline['increase'])}** | {_fmt(bt['time_s'], 's')} | {_fmt(ht['time_s'], 's')} "
        f"| {_pct(time_change)} | 100% | 100% |",
        "",
        f"Base profile {_profile(base)}; head profile {_profile(head)}.  ",
        f"Base plan: {base['plan'].get('steps')} steps of batch {base['plan'].get('batch_size')}; "
        f"head plan: {head['plan'].get('steps')} steps of batch {head['plan'].get('batch_size')}.  ",
    ]
    lines += [f"Note: {note}  " for note in baseline.get("notes") or []]
    return "\n".join(lines).rstrip() + "\n"
