"""Hyper-parameter sweeps: the sweep file, its configurations, and the energy of the whole sweep.

A sweep file (TOML or YAML) names the model, the strategy and the search space::

    model = "model.py"          # MODEL spec; a .py path is relative to the sweep file
    strategy = "random"         # grid | random | bayes
    trials = 64                 # training runs; grid: optional (default: the whole grid)
    epochs = 25
    samples = 60000             # training-set size (or steps = ...)
    optimizer = "adam"
    grid_points = 5             # points per range when a grid expands it
    model_kwargs = {classes = 10}   # fixed keyword arguments of build_model

    [space]
    batch_size = [128, 512]                 # a list: categorical
    lr = {low = 1e-5, high = 0.1, log = true}   # a range (add int = true for integers)

    [space.model]               # keyword arguments of build_model: these change the cost
    conv_blocks = [1, 4]

Only ``batch_size`` and ``[space.model]`` change what one trial costs; the others (learning rate,
betas...) only change how many trials a grid has. Each distinct cost-relevant configuration is
predicted once.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from green_estimate.errors import ConfigError
from green_estimate.project_config import model_relative_to, read_toml, unknown_key_error

STRATEGIES = ("grid", "random", "bayes")
TOP_KEYS = (
    "model", "strategy", "trials", "epochs", "samples", "steps", "batch_size", "optimizer",
    "input_shape", "grid_points", "model_kwargs", "space",
)
RANGE_KEYS = ("low", "high", "log", "int")
# An integer range with at most this many values is priced value by value under random search;
# wider ranges and float ranges are priced at ``grid_points`` equal-probability quantiles.
ENUMERATED_INTS = 32


@dataclass(frozen=True)
class Parameter:
    """One dimension of the search space: a list of values, or a ``[low, high]`` range.

    Attributes:
        name: ``"lr"``, ``"batch_size"``, or ``"model.width"`` for a ``build_model`` argument.
        values: the categorical values, or None for a range.
        low, high, log, integer: the range (``log`` samples uniformly in log space).
    """

    name: str
    values: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False

    @property
    def affects_cost(self) -> bool:
        return self.name == "batch_size" or self.name.startswith("model.")

    def grid(self, points: int) -> list[Any]:
        """The values a grid visits: the list, or ``points`` evenly (or log-evenly) spaced ones."""
        if self.values is not None:
            return list(self.values)
        return _dedupe([self._at((i / (points - 1)) if points > 1 else 0.0) for i in range(points)])

    def support(self, points: int) -> list[tuple[Any, float]]:
        """``(value, probability)`` pairs that price random sampling from this parameter."""
        if self.values is not None:
            return [(v, 1.0 / len(self.values)) for v in self.values]
        if self.integer and self.high - self.low + 1 <= ENUMERATED_INTS:
            return self._int_support()
        weights: dict[Any, float] = {}
        for i in range(points):
            value = self._at((i + 0.5) / points)
            weights[value] = weights.get(value, 0.0) + 1.0 / points
        return list(weights.items())

    def _at(self, u: float) -> Any:
        """The value at fraction ``u`` of the range (in log space when ``log``)."""
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return int(round(value)) if self.integer else float(f"{value:.12g}")

    def _int_support(self) -> list[tuple[int, float]]:
        # Like Optuna's IntDistribution: uniform over the integers, or log-uniform over
        # [low - 0.5, high + 0.5] rounded to the nearest integer.
        ints = range(int(self.low), int(self.high) + 1)
        if not self.log:
            return [(v, 1.0 / len(ints)) for v in ints]
        lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
        return [(v, (math.log(v + 0.5) - math.log(v - 0.5)) / (hi - lo)) for v in ints]


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file. See the module docstring for the schema."""

    model: str
    strategy: str = "grid"
    parameters: tuple[Parameter, ...] = ()
    trials: int | None = None
    epochs: int = 1
    samples: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    input_shape: tuple[int, ...] | None = None
    grid_points: int = 5
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def cost_parameters(self) -> list[Parameter]:
        return [p for p in self.parameters if p.affects_cost]

    @property
    def free_parameters(self) -> list[Parameter]:
        return [p for p in self.parameters if not p.affects_cost]


def load_sweep(path: Path) -> Sweep:
    """Read and check a sweep file (``.toml``, ``.yaml`` or ``.yml``).

    Raises:
        ConfigError: an unreadable file, an unknown key, a misspelled strategy, an empty space,
            a range with ``low > high``... each naming the key and, where it can, a suggestion.
    """
    suffix = path.suffix.lower()
    if suffix == ".toml":
        document = read_toml(path)
    elif suffix in (".yaml", ".yml"):
        document = _read_yaml(path)
    else:
        raise ConfigError(f"sweep file {path}: give a .toml, .yaml or .yml file")
    return parse_sweep(document, path=path)


def parse_sweep(document: Mapping[str, Any], *, path: Path | None = None) -> Sweep:
    """Check a sweep document (the parsed file) and build a :class:`Sweep`.

    Args:
        document: the file's content as a mapping.
        path: the file, for messages and to resolve a relative model path.
    """
    where = f"sweep file {path}" if path else "sweep file"
    if not isinstance(document, Mapping):
        raise ConfigError(f"{where} must be a table of keys (model, strategy, space, ...)")
    for key in document:
        if key not in TOP_KEYS:
            raise unknown_key_error(str(key), TOP_KEYS, where)
    model = document.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f'{where} needs model = "path/to/model.py" (or "package.module")')
    strategy = document.get("strategy", "grid")
    strategy = {"bayesian": "bayes"}.get(strategy, strategy)
    if strategy not in STRATEGIES:
        raise unknown_key_error(str(strategy), STRATEGIES, f"{where} (strategy)")
    ints = {k: _positive_int(document, k, where) for k in ("trials", "epochs", "samples", "steps", "batch_size")}
    if strategy != "grid" and ints["trials"] is None:
        raise ConfigError(f"{where}: a {strategy} search needs trials = N (how many training runs)")
    if ints["samples"] is None and ints["steps"] is None:
        raise ConfigError(f"{where} needs samples = N (training-set size) or steps = N")
    grid_points = _positive_int(document, "grid_points", where) or 5
    if grid_points < 2:
        raise ConfigError(f"{where}: grid_points = {grid_points} must be at least 2")
    parameters = _parse_space(document.get("space"), where)
    if ints["batch_size"] is not None and any(p.name == "batch_size" for p in parameters):
        raise ConfigError(f"{where} sets batch_size both at the top and in [space]: keep one")
    model_kwargs = document.get("model_kwargs", {})
    if not isinstance(model_kwargs, Mapping):
        raise ConfigError(f"{where}: model_kwargs must be a table of build_model arguments")
    shape = document.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and shape and all(_is_positive_int(d) for d in shape)):
        raise ConfigError(f"{where}: input_shape = {shape!r} must be a list of positive integers, e.g. [3, 32, 32]")
    optimizer = document.get("optimizer")
    return Sweep(
        model=model_relative_to(model, path) if path else model,
        strategy=strategy,
        parameters=parameters,
        trials=ints["trials"],
        epochs=ints["epochs"] or 1,
        samples=ints["samples"],
        steps=ints["steps"],
        batch_size=ints["batch_size"],
        optimizer=None if optimizer is None else str(optimizer),
        input_shape=None if shape is None else tuple(shape),
        grid_points=grid_points,
        model_kwargs=dict(model_kwargs),
        path=None if path is None else str(path),
    )


def _parse_space(space: Any, where: str) -> tuple[Parameter, ...]:
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"{where}: [space] is missing or empty: add at least one parameter, e.g. batch_size = [64, 256]")
    entries = [(str(k), v) for k, v in space.items() if k != "model"]
    model_space = space.get("model", {})
    if not isinstance(model_space, Mapping):
        raise ConfigError(f"{where}: [space.model] must be a table of build_model arguments")
    if "batch_size" in model_space:
        raise ConfigError(f"{where}: batch_size belongs in [space], not in [space.model]")
    entries += [(f"model.{k}", v) for k, v in model_space.items()]
    if not entries:
        raise ConfigError(f"{where}: [space] has no parameters: add at least one, e.g. batch_size = [64, 256]")
    return tuple(_parse_parameter(name, spec, where) for name, spec in entries)


def _parse_parameter(name: str, spec: Any, where: str) -> Parameter:
    here = f"{where}, space.{name}"
    if not name.split(".")[-1].isidentifier():
        raise ConfigError(f"{here}: a parameter name must be a Python identifier")
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{here} is an empty list: give at least one value")
        return Parameter(name, values=tuple(spec))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{here} = {spec!r}: give a list of values or a range {{low = ..., high = ...}}")
    for key in spec:
        if key not in RANGE_KEYS:
            raise unknown_key_error(str(key), RANGE_KEYS, here)
    try:
        low, high = float(spec["low"]), float(spec["high"])
    except KeyError as e:
        raise ConfigError(f"{here}: a range needs both low and high (missing {e.args[0]})") from None
    except (TypeError, ValueError):
        raise ConfigError(f"{here}: low and high must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ConfigError(f"{here}: low = {spec['low']} must not be greater than high = {spec['high']}")
    log, integer = bool(spec.get("log", False)), bool(spec.get("int", False))
    if log and low <= 0:
        raise ConfigError(f"{here}: a log range needs low > 0 (got {spec['low']})")
    if integer and (low != int(low) or high != int(high)):
        raise ConfigError(f"{here}: an int range needs whole-number low and high")
    return Parameter(name, low=low, high=high, log=log, integer=integer)


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None


def _positive_int(document: Mapping[str, Any], key: str, where: str) -> int | None:
    value = document.get(key)
    if value is not None and not _is_positive_int(value):
        raise ConfigError(f"{where}: {key} = {value!r} must be a positive integer")
    return value


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


@dataclass(frozen=True)
class PricedConfiguration:
    """One cost-relevant configuration and its predicted training energy.

    Attributes:
        params: ``batch_size`` and ``model.*`` values of this configuration.
        weight: grid points that share it (grid) or its probability per trial (random search).
        prediction: the ``predict@1`` dict.
    """

    params: dict[str, Any]
    weight: float
    prediction: dict[str, Any]

    @property
    def energy_j(self) -> float:
        return float(self.prediction["total"]["energy_j"])

    def to_dict(self) -> dict[str, Any]:
        total = self.prediction["total"]
        return {
            "params": self.params,
            "weight": self.weight,
            "steps": self.prediction.get("plan", {}).get("steps"),
            "energy_j": self.energy_j,
            "energy_j_interval": total["energy_j_interval"],
            "time_s": total.get("time_s"),
            "co2e_g": total.get("co2e_g"),
        }


def price_configurations(
    sweep: Sweep, predict_fn: Any = None, *, max_configs: int = 256, **options: Any
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
    from green_estimate.budget import default_predict_fn

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
             "optimizer": sweep.optimizer, "input_shape": sweep.input_shape, **options}
    priced = []
    for combo in itertools.product(*axes):
        params = {p.name: value for p, (value, _) in zip(sweep.cost_parameters, combo)}
        kwargs = {**fixed, "batch_size": params.get("batch_size", sweep.batch_size)}
        model_kwargs = {**sweep.model_kwargs, **{k[6:]: v for k, v in params.items() if k.startswith("model.")}}
        if model_kwargs:
            kwargs["model_kwargs"] = model_kwargs
        prediction = predict(sweep.model, **{k: v for k, v in kwargs.items() if v is not None}).to_dict()
        priced.append(PricedConfiguration(params, math.prod(w for _, w in combo), prediction))
    free_points = math.prod(len(p.grid(sweep.grid_points)) for p in sweep.free_parameters) if grid else 1
    return priced, free_points


@dataclass(frozen=True)
class SweepPlan:
    """The predicted energy of a whole sweep.

    Attributes:
        sweep: the sweep priced.
        configurations: the priced cost-relevant configurations, most expensive first.
        trials: training runs the sweep makes.
        grid_size: grid points of a grid sweep (None for random / Bayesian search).
        exact: True when every trial's configuration is known (a full grid), so the total is a sum.
        energy_j: the total (exact) or the expected total (sampled), J.
        energy_j_range: exact: the sum of the prediction intervals; sampled: the 5th–95th
            percentile of ``draws`` simulated sweeps.
        energy_j_possible: the least and most the trials could cost (cheapest / dearest draws).
        energy_j_upper: what ``conservative`` compares: interval upper ends, summed (exact) or at
            the 95th percentile of the simulated sweeps.
        time_s, co2e_g: total or expected total (co2e None without a grid intensity).
        draws, seed: the simulation behind a sampled plan (None when exact).
        notes: what the numbers assume, in sentences.
        budget: the budget the sweep is held to, if any.
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
    def compared_j(self) -> float:
        return self.energy_j_upper if self.budget is not None and self.budget.conservative else self.energy_j

    @property
    def verdict(self) -> str | None:
        """``"pass"``/``"fail"`` against the energy budget, None without one."""
        if self.budget is None or self.budget.energy_j is None:
            return None
        return "pass" if self.compared_j <= self.budget.energy_j else "fail"

    def to_dict(self) -> dict[str, Any]:
        """The ``green-estimate/plan@1`` document."""
        s = self.sweep
        return {
            "schema": "green-estimate/plan@1",
            "sweep": s.path, "model": s.model, "strategy": s.strategy,
            "mode": "exact" if self.exact else "sampled",
            "trials": self.trials, "grid_size": self.grid_size,
            "plan": {"epochs": s.epochs, "samples": s.samples, "steps": s.steps, "batch_size": s.batch_size,
                     "optimizer": s.optimizer},
            "parameters": {"cost": [p.name for p in s.cost_parameters], "free": [p.name for p in s.free_parameters]},
            "total": {
                "energy_j": self.energy_j, "energy_kwh": energy_kwh(self.energy_j),
                "energy_j_range": list(self.energy_j_range),
                "range_basis": "sum of prediction intervals" if self.exact
                else f"5th-95th percentile of {self.draws} simulated sweeps",
                "energy_j_possible": list(self.energy_j_possible), "energy_j_upper": self.energy_j_upper,
                "time_s": self.time_s, "co2e_g": self.co2e_g,
            },
            "most_expensive": self.configurations[0].to_dict(),
            "least_expensive": self.configurations[-1].to_dict(),
            "configurations": [c.to_dict() for c in self.configurations],
            "simulation": None if self.exact else {"draws": self.draws, "seed": self.seed},
            "budget": None if self.budget is None else self.budget.to_dict(),
            "verdict": self.verdict,
            "notes": list(self.notes),
        }


def plan_sweep(
    sweep: Sweep, predict_fn: Any = None, *, budget: Budget | None = None, draws: int = 1000, seed: int = 0,
    max_configs: int = 256, **options: Any,
) -> SweepPlan:
    """Predict the energy of a whole sweep.

    A full grid is priced exactly: the sum over every grid point. A random or Bayesian search,
    or a grid with fewer ``trials`` than points, is simulated ``draws`` times (seeded): the
    expected total is exact (trials × mean cost per trial), its range comes from the simulation.

    Args:
        sweep: the sweep. predict_fn, max_configs, options: as :func:`price_configurations`.
        budget: hold the sweep's total energy to it (``verdict``).
        draws, seed: the simulation of sampled sweeps.
    """
    import numpy as np

    priced, free_points = price_configurations(sweep, predict_fn, max_configs=max_configs, **options)
    totals = [c.prediction["total"] for c in priced]
    cost = np.array([c.energy_j for c in priced])
    high = np.array([t["energy_j_interval"][1] for t in totals])
    low = np.array([t["energy_j_interval"][0] for t in totals])
    time_s = np.array([t.get("time_s") or 0.0 for t in totals])
    co2 = None if any(t.get("co2e_g") is None for t in totals) else np.array([t["co2e_g"] for t in totals])
    notes = []
    if sweep.free_parameters:
        names = ", ".join(p.name for p in sweep.free_parameters)
        notes.append(f"{names} do not change what a trial costs (only batch_size and [space.model] do)"
                     + (f": each priced configuration stands for {free_points} grid points" if free_points > 1 else ""))
    grid_size = len(priced) * free_points if sweep.strategy == "grid" else None
    rng = np.random.default_rng(seed)
    if grid_size is not None and (sweep.trials is None or sweep.trials >= grid_size):
        if sweep.trials is not None and sweep.trials > grid_size:
            notes.append(f"trials = {sweep.trials} exceeds the {grid_size} grid points: priced the whole grid once")
        weights = np.full(len(priced), float(free_points))
        energy = float(free_points * cost.sum())
        return _plan(sweep, priced, weights, grid_size, grid_size, True, energy,
                     (float(free_points * low.sum()), float(free_points * high.sum())), (energy, energy),
                     float(free_points * high.sum()), time_s, co2, None, None, notes, budget)
    trials = int(sweep.trials)  # type: ignore[arg-type]
    if grid_size is not None:
        notes.append(f"{trials} of the {grid_size} grid points, drawn at random without replacement")
        weights = np.full(len(priced), 1.0 / len(priced))
        index = np.stack([rng.choice(grid_size, trials, replace=False) for _ in range(draws)]) // free_points
        ordered = np.sort(np.repeat(cost, free_points))
        possible = (float(ordered[:trials].sum()), float(ordered[-trials:].sum()))
    else:
        weights = np.array([c.weight for c in priced])
        index = rng.choice(len(priced), size=(draws, trials), p=weights / weights.sum())
        possible = (float(trials * cost.min()), float(trials * cost.max()))
        if any(p.values is None for p in sweep.cost_parameters):
            notes.append(f"ranges in [space.model] are priced at {sweep.grid_points} equal-probability points"
                         f" (integer ranges of up to {ENUMERATED_INTS} values at every value)")
    if sweep.strategy == "bayes":
        notes.append("Bayesian search concentrates its trials where accuracy is good, not at random: its spend "
                     "stays within the possible range, but the expected total assumes random-like coverage")
    simulated = cost[index].sum(axis=1)
    spread = (float(np.percentile(simulated, 5)), float(np.percentile(simulated, 95)))
    upper = float(np.percentile(high[index].sum(axis=1), 95))
    return _plan(sweep, priced, weights, trials, grid_size, False, float(trials * weights @ cost), spread, possible,
                 upper, time_s, co2, draws, seed, notes, budget)


def _plan(sweep, priced, weights, trials, grid_size, exact, energy, spread, possible, upper, time_s, co2, draws,
          seed, notes, budget) -> SweepPlan:  # type: ignore[no-untyped-def]
    # Exact plans weigh each configuration by its grid points, sampled ones by trials × probability.
    scale = weights if exact else trials * weights
    ordered = sorted(priced, key=lambda c: c.energy_j, reverse=True)
    return SweepPlan(
        sweep=sweep, configurations=ordered, trials=trials, grid_size=grid_size, exact=exact, energy_j=energy,
        energy_j_range=spread, energy_j_possible=possible, energy_j_upper=upper,
        time_s=float(scale @ time_s), co2e_g=None if co2 is None else float(scale @ co2),
        draws=draws, seed=seed, notes=tuple(notes), budget=budget,
    )
