"""Hyper-parameter sweeps: the sweep file and its search space (priced by :mod:`sweep_plan`).

A sweep file (TOML or YAML; the schema is in docs/ci.md) names a model, a strategy (grid, random,
bayes), trials, the training plan and a ``[space]``. Only ``batch_size`` and the ``build_model``
arguments under ``[space.model]`` change what one trial costs; the others (learning rate, betas...)
only change how many trials a grid has. Each distinct cost-relevant configuration is predicted once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from green_estimate.errors import ConfigError
from green_estimate.config_files import read_toml, read_yaml
from green_estimate.project_config import is_positive_int, model_relative_to, unknown_key_error

STRATEGIES = ("grid", "random", "bayes")
TOP_KEYS = (
    "model", "strategy", "trials", "epochs", "samples", "steps", "batch_size", "optimizer",
    "input_shape", "grid_points", "model_kwargs", "space", "grad_accum", "gpus", "nodes", "interconnect",
)
RANGE_KEYS = ("low", "high", "log", "int")
# The hyper-parameters [space] knows (a typo such as ``batchsize`` would otherwise silently price the
# sweep at the default batch size). ``build_model`` arguments go under [space.model], any name.
SPACE_KEYS = (
    "batch_size", "lr", "learning_rate", "beta1", "beta2", "betas", "eps", "epsilon", "weight_decay",
    "momentum", "dampening", "nesterov", "amsgrad", "dropout", "label_smoothing", "warmup_steps",
    "warmup_ratio", "gamma", "step_size", "max_grad_norm", "grad_clip", "seed", "model",
)
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
        return list(dict.fromkeys(self._at(i / (points - 1) if points > 1 else 0.0) for i in range(points)))

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
    grad_accum: int | None = None  # micro-batches per optimizer step
    gpus: int | None = None  # data-parallel GPUs of every trial (and nodes, interconnect)
    nodes: int | None = None
    interconnect: str | None = None

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
        document = read_yaml(path)
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
    strategy = {"bayesian": "bayes"}.get(str(strategy), str(strategy))
    if strategy not in STRATEGIES:
        raise unknown_key_error(str(strategy), STRATEGIES, where, what="strategy")
    ints = {k: _optional_positive_int(document, k, where) for k in ("trials", "epochs", "samples", "steps",
                                                                   "batch_size", "grad_accum", "gpus", "nodes")}
    if strategy != "grid" and ints["trials"] is None:
        raise ConfigError(f"{where}: a {strategy} search needs trials = N (how many training runs)")
    if ints["samples"] is None and ints["steps"] is None:
        raise ConfigError(f"{where} needs samples = N (training-set size) or steps = N")
    grid_points = _optional_positive_int(document, "grid_points", where) or 5
    if grid_points < 2:
        raise ConfigError(f"{where}: grid_points = {grid_points} must be at least 2")
    parameters = _parse_space(document.get("space"), where)
    if ints["batch_size"] is not None and any(p.name == "batch_size" for p in parameters):
        raise ConfigError(f"{where} sets batch_size both at the top and in [space]: keep one")
    model_kwargs, shape, interconnect = _model_and_links(document, where)
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
        grad_accum=ints["grad_accum"],
        gpus=ints["gpus"],
        nodes=ints["nodes"],
        interconnect=interconnect,
    )


def _model_and_links(document: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], Any, Any]:
    """The checked ``model_kwargs``, ``input_shape`` and ``interconnect`` of a sweep document."""
    model_kwargs = document.get("model_kwargs", {})
    if not isinstance(model_kwargs, Mapping):
        raise ConfigError(f"{where}: model_kwargs must be a table of build_model arguments")
    shape = document.get("input_shape")
    if shape is not None and not (isinstance(shape, list) and shape and all(is_positive_int(d) for d in shape)):
        raise ConfigError(f"{where}: input_shape = {shape!r} must be a list of positive integers, e.g. [3, 32, 32]")
    interconnect = document.get("interconnect")
    if interconnect is not None and not (isinstance(interconnect, str) and interconnect.strip()):
        raise ConfigError(f'{where}: interconnect = {interconnect!r} must be a string, e.g. "nvlink4,ib-ndr"')
    return model_kwargs, shape, interconnect


def _parse_space(space: Any, where: str) -> tuple[Parameter, ...]:
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(
            f"{where}: [space] is missing or empty: add at least one parameter, e.g. batch_size = [64, 256]"
        )
    for key in space:
        if key not in SPACE_KEYS:
            error = unknown_key_error(str(key), SPACE_KEYS, f"{where}, [space]")
            raise ConfigError(f"{error} (arguments of build_model go under [space.model])")
    entries = [(str(k), v) for k, v in space.items() if k != "model"]
    model_space = space.get("model", {})
    if not isinstance(model_space, Mapping):
        raise ConfigError(f"{where}: [space.model] must be a table of build_model arguments")
    if "batch_size" in model_space:
        raise ConfigError(f"{where}: batch_size belongs in [space], not in [space.model]")
    entries += [(f"model.{k}", v) for k, v in model_space.items()]
    if not entries:
        raise ConfigError(f"{where}: [space] has no parameters: add at least one, e.g. batch_size = [64, 256]")
    params = tuple(_parse_parameter(name, spec, where) for name, spec in entries)
    for p in params:
        if p.name == "batch_size":
            _check_batch_size(p, where)
    return params


def _check_batch_size(p: Parameter, where: str) -> None:
    """A batch size is a whole number of samples: positive ints, or an ``int = true`` range."""
    here = f"{where}, space.batch_size"
    if p.values is not None:
        bad = [v for v in p.values if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if bad:
            raise ConfigError(f"{here}: batch sizes must be positive integers, got {bad[0]!r}")
    elif not p.integer or p.low < 1:
        raise ConfigError(f"{here}: a batch-size range needs int = true and low >= 1, e.g. {{low = 32, high = 256, int = true}}")


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


def _optional_positive_int(document: Mapping[str, Any], key: str, where: str) -> int | None:
    value = document.get(key)
    if value is not None and not is_positive_int(value):
        raise ConfigError(f"{where}: {key} = {value!r} must be a positive integer")
    return value
