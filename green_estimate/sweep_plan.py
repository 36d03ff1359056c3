"""The energy of a whole sweep: each distinct cost-relevant configuration predicted once, then summed
over a grid or simulated over random draws of trials.

A full grid is priced exactly. A random or Bayesian search (or a grid with fewer trials than points)
gets its expected total exactly (trials × the mean cost of a trial) and its range from a seeded
simulation of the draws.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from green_estimate.budget import Budget
from green_estimate.check import PredictFn, default_predict_fn
from green_estimate.errors import ConfigError
from green_estimate.sweep import ENUMERATED_INTS, Sweep
from green_estimate.units import energy_kwh
from green_estimate.verdict import Verdict


@dataclass(frozen=True)
class PricedConfiguration:
    """One cost-relevant configuration and its predicted training run (J, s, g).

    Attributes:
        params: its ``batch_size`` and ``model.*`` values.
        weight: 1 per grid configuration, or its probability per trial under random search.
    """

    params: dict[str, Any]
    weight: float
    steps: int | None
    energy_j: float
    energy_j_interval: tuple[float, float]
    time_s: float
    co2e_g: float | None
    profile: tuple[tuple[str, Any], ...] = ()  # the prediction's profile summary (name, provenance, ...)
    notes: tuple[str, ...] = ()

    @classmethod
    def from_prediction(
        cls, params: dict[str, Any], weight: float, prediction: Mapping[str, Any]
    ) -> PricedConfiguration:
        """Keep the figures of a ``predict@1`` dict that a sweep adds up."""
        total = prediction["total"]
        low, high = total["energy_j_interval"]
        co2e = total.get("co2e_g")
        return cls(params, weight, prediction.get("plan", {}).get("steps"), float(total["energy_j"]),
                   (float(low), float(high)), float(total.get("time_s") or 0.0), None if co2e is None else float(co2e),
                   tuple(sorted((prediction.get("profile") or {}).items())), tuple(prediction.get("notes") or ()))

    def to_dict(self) -> dict[str, Any]:
        d = {**asdict(self), "energy_j_interval": list(self.energy_j_interval)}
        del d["profile"], d["notes"]  # reported once for the whole plan
        return d


def price_configurations(
    sweep: Sweep, predict_fn: PredictFn | None = None, *, max_configs: int = 256, **options: Any
) -> tuple[list[PricedConfiguration], int]:
    """Predict every distinct cost-relevant configuration of the sweep, once each.

    Args:
        sweep: the sweep.
        predict_fn: ``predict(model, **plan)``; defaults to :func:`green_estimate.predict.predict`.
        max_configs: refuse spaces with more cost-relevant configurations than this.
        **options: passed to ``predict`` (profile, confidence, grid_intensity, region).

    Returns:
        The priced configurations and ``free_points``: how many grid points share each one
        (the product of the grid sizes of the parameters that do not change the cost).

    Raises:
        ConfigError: more than ``max_configs`` cost-relevant configurations.
    """
    grid = sweep.strategy == "grid"
    axes = [
        [(v, 1.0) for v in p.grid(sweep.grid_points)] if grid else p.support(sweep.grid_points)
        for p in sweep.cost_parameters
    ]
    count = math.prod(len(axis) for axis in axes)
    if count > max_configs:
        raise ConfigError(
            f"the sweep has {count} distinct cost-relevant configurations (batch_size × [space.model]), "
            f"more than --max-configs {max_configs}: use shorter lists or fewer grid_points, or raise --max-configs"
        )
    predict = predict_fn or default_predict_fn()
    fixed = {"epochs": sweep.epochs, "samples": sweep.samples, "steps": sweep.steps, "batch_size": sweep.batch_size,
             "optimizer": sweep.optimizer, "input_shape": sweep.input_shape, "grad_accum": sweep.grad_accum,
             "gpus": sweep.gpus, "nodes": sweep.nodes, "interconnect": sweep.interconnect, **options}
    priced = []
    for combo in itertools.product(*axes):
        params = {p.name: value for p, (value, _) in zip(sweep.cost_parameters, combo)}
        kwargs = {**fixed, "batch_size": params.get("batch_size", sweep.batch_size)}
        model_kwargs = {**sweep.model_kwargs, **{k.removeprefix("model."): v for k, v in params.items() if k.startswith("model.")}}
        if model_kwargs:
            kwargs["model_kwargs"] = model_kwargs
        prediction = predict(sweep.model, **{k: v for k, v in kwargs.items() if v is not None}).to_dict()
        priced.append(PricedConfiguration.from_prediction(params, math.prod(w for _, w in combo), prediction))
    free_points = math.prod(len(p.grid(sweep.grid_points)) for p in sweep.free_parameters) if grid else 1
    return priced, free_points


@dataclass(frozen=True)
class SweepPlan:
    """The predicted energy of a whole sweep (energies in J).

    Attributes:
        configurations: the priced cost-relevant configurations, most expensive first.
        trials: training runs the sweep makes; grid_size: its grid points (None unless grid).
        exact: every trial's configuration is known (a full grid), so the total is a sum.
        energy_j: the total (exact) or the expected total (sampled).
        energy_j_range: exact: the summed prediction intervals; sampled: the 5th-95th
            percentile of ``draws`` simulated sweeps.
        energy_j_possible: what the cheapest and the dearest possible draw of trials costs.
        energy_j_upper: what a conservative budget compares: interval upper ends, summed
            (exact) or at the 95th percentile of the simulated sweeps.
        notes: what the numbers assume, in sentences.
    """

    sweep: Sweep
    configurations: list[PricedConfiguration]
    trials: int
    grid_size: int | None
    exact: bool
    energy_j: float
    energy_j_range: tuple[float, float]
    energy_j_possible: tuple[float, float]
    energy_j_upper: float
    time_s: float
    co2e_g: float | None
    draws: int | None = None
    seed: int | None = None
    notes: tuple[str, ...] = ()
    budget: Budget | None = None

    @property
    def trials_by_configuration(self) -> list[float]:
        """How many trials run each configuration: exactly for a full grid, in expectation otherwise."""
        total_weight = sum(c.weight for c in self.configurations)
        return [self.trials * c.weight / total_weight for c in self.configurations]

    @property
    def budget_verdict(self) -> Verdict | None:
        """The sweep's total energy (its upper end when conservative) against the energy budget, None without one."""
        if self.budget is None or self.budget.energy_j is None:
            return None
        conservative = self.budget.conservative
        what = "upper end" if conservative else ("total" if self.exact else "expected total")
        return Verdict(self.budget, self.energy_j_upper if conservative else self.energy_j,
                       subject=f"the sweep's {what}")

    @property
    def verdict(self) -> str | None:
        """``"pass"``/``"fail"`` against the energy budget, None without one."""
        verdict = self.budget_verdict
        return None if verdict is None else verdict.verdict

    def to_dict(self) -> dict[str, Any]:
        """The ``green-estimate/plan@1`` document."""
        s = self.sweep
        basis = "sum of prediction intervals" if self.exact else f"5th-95th percentile of {self.draws} simulated sweeps"
        return {
            "schema": "green-estimate/plan@1",
            "sweep": s.path, "model": s.model, "strategy": s.strategy,
            "mode": "exact" if self.exact else "sampled", "trials": self.trials, "grid_size": self.grid_size,
            "plan": {"epochs": s.epochs, "samples": s.samples, "steps": s.steps, "batch_size": s.batch_size,
                     "optimizer": s.optimizer},
            "parameters": {"cost": [p.name for p in s.cost_parameters], "free": [p.name for p in s.free_parameters]},
            "total": {
                "energy_j": self.energy_j, "energy_kwh": energy_kwh(self.energy_j),
                "energy_j_range": list(self.energy_j_range), "range_basis": basis,
                "energy_j_possible": list(self.energy_j_possible), "energy_j_upper": self.energy_j_upper,
                "time_s": self.time_s, "co2e_g": self.co2e_g,
            },
            "most_expensive": self.configurations[0].to_dict(),
            "least_expensive": self.configurations[-1].to_dict(),
            "configurations": [
                {**c.to_dict(), "trials": n, "share": n * c.energy_j / self.energy_j if self.energy_j else 0.0}
                for c, n in zip(self.configurations, self.trials_by_configuration)
            ],
            "simulation": None if self.exact else {"draws": self.draws, "seed": self.seed},
            "budget": None if self.budget is None else self.budget.to_dict(),
            "verdict": self.verdict,
            "notes": list(self.notes),
        }


def plan_sweep(
    sweep: Sweep,
    predict_fn: PredictFn | None = None,
    *,
    budget: Budget | None = None,
    draws: int = 1000,
    seed: int = 0,
    max_configs: int = 256,
    **options: Any,
) -> SweepPlan:
    """Predict the energy of a whole sweep.

    A full grid is priced exactly: the sum over every grid point. A random or Bayesian search,
    or a grid with fewer ``trials`` than points (drawn without replacement), is simulated
    ``draws`` times with ``seed``: the expected total is exact (trials × the mean cost of a
    trial), its range comes from the simulation.

    Args:
        sweep: the sweep. predict_fn, max_configs, options: as :func:`price_configurations`.
        budget: hold the sweep's total energy to it (see :attr:`SweepPlan.verdict`).
        draws, seed: the simulation of sampled sweeps.
    """
    import numpy as np

    priced, free_points = price_configurations(sweep, predict_fn, max_configs=max_configs, **options)
    cost = np.array([c.energy_j for c in priced])
    low, high = np.array([c.energy_j_interval for c in priced]).T
    time_s = np.array([c.time_s for c in priced])
    grid_size = len(priced) * free_points if sweep.strategy == "grid" else None
    exact = grid_size is not None and (sweep.trials or grid_size) >= grid_size
    trials = grid_size if exact else int(sweep.trials)  # type: ignore[arg-type]
    probability = np.array([c.weight for c in priced])
    probability = probability / probability.sum()
    share = trials * probability  # how many trials each configuration accounts for (in expectation)
    energy_j = float(share @ cost)
    if exact:
        spread, possible, upper = (float(share @ low), float(share @ high)), (energy_j, energy_j), float(share @ high)
    else:
        rng = np.random.default_rng(seed)
        if grid_size is not None:  # grid points ordered configuration-major, free_points of each
            index = np.stack([rng.choice(grid_size, trials, replace=False) for _ in range(draws)]) // free_points
            ordered = np.sort(np.repeat(cost, free_points))
            possible = (float(ordered[:trials].sum()), float(ordered[-trials:].sum()))
        else:
            index = rng.choice(len(priced), size=(draws, trials), p=probability)
            possible = (float(trials * cost.min()), float(trials * cost.max()))
        simulated = cost[index].sum(axis=1)
        spread = (float(np.percentile(simulated, 5)), float(np.percentile(simulated, 95)))
        upper = float(np.percentile(high[index].sum(axis=1), 95))
    co2 = None if any(c.co2e_g is None for c in priced) else np.array([c.co2e_g for c in priced])
    return SweepPlan(
        sweep=sweep, configurations=sorted(priced, key=lambda c: c.energy_j, reverse=True), trials=trials,
        grid_size=grid_size, exact=exact, energy_j=energy_j, energy_j_range=spread, energy_j_possible=possible,
        energy_j_upper=upper, time_s=float(share @ time_s),
        co2e_g=None if co2 is None else float(share @ co2),
        draws=None if exact else draws, seed=None if exact else seed,
        notes=tuple(_profile_notes(priced) + _notes(sweep, free_points, grid_size, trials, exact)), budget=budget,
    )


def plan_file(path: Path, *, cwd: Path, budget: Budget | None = None, draws: int = 1000, seed: int = 0,
              max_configs: int = 256, predict_fn: PredictFn | None = None, **given: Any) -> SweepPlan:
    """What ``green-estimate plan`` does: the sweep file at ``path`` priced and held to ``budget``.

    ``given`` (profile, confidence, grid_intensity, region; None = not given) fall back to the
    ``[tool.green-estimate]`` section of the pyproject.toml nearest above ``cwd``.
    """
    from green_estimate.project_config import load_project_config
    from green_estimate.sweep import load_sweep

    options = load_project_config(cwd).options(given)
    return plan_sweep(load_sweep(path), predict_fn, budget=budget, draws=draws, seed=seed, max_configs=max_configs,
                      **{k: v for k, v in options.items() if v is not None})


def _profile_notes(priced: list[PricedConfiguration]) -> list[str]:
    """Which profile priced the sweep and where its figures come from, and the predictions' notes."""
    if not priced:
        return []
    prof = dict(priced[0].profile)
    head = []
    if prof:
        head.append(f"priced with profile {prof.get('name')} ({prof.get('device')}): energy "
                    f"{prof.get('provenance')}, time {prof.get('time_provenance') or prof.get('provenance')}")
    seen: list[str] = []
    for c in priced:
        for n in c.notes:
            if n not in seen:
                seen.append(n)
    return head + seen


def _notes(sweep: Sweep, free_points: int, grid_size: int | None, trials: int, exact: bool) -> list[str]:
    notes = []
    if sweep.free_parameters:
        names = ", ".join(p.name for p in sweep.free_parameters)
        shared = f": each priced configuration stands for {free_points} grid points" if free_points > 1 else ""
        verb = "does" if len(sweep.free_parameters) == 1 else "do"
        notes.append(f"{names} {verb} not change what a trial costs (only batch_size and [space.model] do){shared}")
    if exact and sweep.trials is not None and sweep.trials > trials:
        notes.append(f"trials = {sweep.trials} exceeds the {trials} grid points: priced the whole grid once")
    elif grid_size is not None and not exact:
        notes.append(f"{trials} of the {grid_size} grid points, drawn at random without replacement")
    if grid_size is None and any(p.values is None for p in sweep.cost_parameters):
        notes.append(f"ranges in [space.model] are priced at {sweep.grid_points} equal-probability points "
                     f"(integer ranges of up to {ENUMERATED_INTS} values at every value)")
    if sweep.strategy == "bayes":
        notes.append("Bayesian search concentrates its trials where accuracy is good, not at random: its spend "
                     "stays within the possible range, but the expected total assumes random-like coverage")
    return notes
