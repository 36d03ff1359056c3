"""PNG plots of a validation run (matplotlib's Agg renderer; no display, no pyplot state).

* ``predicted_vs_measured.png``: predicted against measured energy per trial, log-log, with the
  y = x line and the prediction intervals as error bars.
* ``accuracy_vs_cumulative_energy.png``: best accuracy so far against cumulative measured energy,
  one line per strategy.
* ``energy_by_class.png``: predicted energy per step by layer class, stacked, per architecture.
* ``accuracy_vs_energy.png``: accuracy against measured energy per trial, by model family.
"""
from __future__ import annotations

from pathlib import Path

from green_estimate.validation.rows import TrialRow

MAIN_CLASSES = ("conv", "linear", "relu")


def write_plots(rows: list[TrialRow], out_dir: Path) -> dict[str, Path]:
    """Write every plot that has data into ``out_dir``; returns name → path."""
    if not rows:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {
        "predicted_vs_measured": plot_predicted_vs_measured,
        "accuracy_vs_cumulative_energy": plot_accuracy_vs_cumulative_energy,
        "energy_by_class": plot_energy_by_class,
        "accuracy_vs_energy": plot_accuracy_vs_energy,
    }
    written = {}
    for name, fn in plots.items():
        path = out_dir / f"{name}.png"
        if fn(rows, path):
            written[name] = path
    return written


def _figure(width: float = 6.4, height: float = 4.8):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig, fig.subplots()


def _save(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> bool:  # noqa: ANN001
    """Label the axes, title and legend, and write the figure to ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.savefig(path)
    return True


def _strategies(rows: list[TrialRow]) -> list[str]:
    return list(dict.fromkeys(r.strategy for r in rows))


def plot_predicted_vs_measured(rows: list[TrialRow], path: Path) -> bool:
    pts = [r for r in rows if r.meas_energy_j > 0 and r.pred_energy_j > 0]
    if not pts:
        return False
    fig, ax = _figure()
    for strategy in _strategies(pts):
        mine = [r for r in pts if r.strategy == strategy]
        ax.errorbar(
            [r.meas_energy_j for r in mine], [r.pred_energy_j for r in mine],
            yerr=[[max(r.pred_energy_j - r.pred_energy_j_low, 0) for r in mine],
                  [max(r.pred_energy_j_high - r.pred_energy_j, 0) for r in mine]],
            fmt="o", ms=4, capsize=2, alpha=0.8, label=strategy,
        )
    values = [v for r in pts for v in (r.meas_energy_j, r.pred_energy_j, r.pred_energy_j_low, r.pred_energy_j_high) if v > 0]
    lo, hi = min(values) / 1.3, max(values) * 1.3
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    return _save(fig, ax, path, f"measured energy per trial [J] ({', '.join(sorted({r.provenance for r in pts}))})",
                 "predicted energy per trial [J]", "Predicted (before training) vs measured energy")


def plot_accuracy_vs_cumulative_energy(rows: list[TrialRow], path: Path) -> bool:
    fig, ax = _figure()
    for strategy in _strategies(rows):
        mine = sorted((r for r in rows if r.strategy == strategy), key=lambda r: r.trial)
        energy, best, xs, ys = 0.0, 0.0, [], []
        for r in mine:
            energy += r.meas_energy_j
            best = max(best, r.accuracy)
            xs.append(energy)
            ys.append(best)
        ax.step(xs, ys, where="post", marker="o", ms=3, label=strategy)
    return _save(fig, ax, path, "cumulative measured energy [J]", "best test accuracy so far",
                 "Search efficiency per strategy")


def plot_energy_by_class(rows: list[TrialRow], path: Path) -> bool:
    archs: dict[str, dict] = {}
    for r in rows:
        if r.pred_by_class_j_per_step:
            archs.setdefault(r.architecture, r.pred_by_class_j_per_step)
    if not archs:
        return False
    names = sorted(archs, key=lambda a: sum(archs[a].values()))
    classes = [c for c in MAIN_CLASSES if any(c in archs[a] for a in names)]
    classes += sorted({c for a in names for c in archs[a]} - set(classes))
    fig, ax = _figure(max(6.4, 0.45 * len(names) + 2), 4.8)
    bottom = [0.0] * len(names)
    for cls in classes:
        heights = [archs[a].get(cls, 0.0) for a in names]
        ax.bar(range(len(names)), heights, bottom=bottom, label=cls)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("predicted energy per step [J]")
    ax.set_title("Energy by layer class per architecture (predicted)")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path)
    return True


def plot_accuracy_vs_energy(rows: list[TrialRow], path: Path) -> bool:
    pts = [r for r in rows if r.meas_energy_j > 0]
    if not pts:
        return False
    fig, ax = _figure()
    for family in sorted({r.family for r in pts}):
        mine = [r for r in pts if r.family == family]
        ax.scatter([r.meas_energy_j for r in mine], [r.accuracy for r in mine], s=14, alpha=0.8, label=family)
    ax.set_xscale("log")
    return _save(fig, ax, path, "measured energy per trial [J]", "test accuracy", "Accuracy vs energy per trial")
