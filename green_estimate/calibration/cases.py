"""Calibration cases: the suite file, and the seeded draw of its cases.

A case is one seeded random network (family, seed, batch size, optimizer) whose training steps are
timed op by op in context and measured whole under the meter. The suite file (``suite.toml``, or
``suite_gpu.toml`` on a GPU) says how many are drawn; the draw is seeded, so every machine runs the
same networks.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from green_estimate.config_files import TOMLDecodeError, parse_toml
from green_estimate.errors import ConfigError


@dataclass(frozen=True)
class Case:
    """One microbenchmark: a kind of op (``conv2d``), its class, and its parameters."""

    cls: str
    kind: str
    params: tuple[tuple[str, Any], ...]

    @property
    def id(self) -> str:
        return f"{self.kind}:" + ",".join(f"{k}={v}" for k, v in self.params)

    def p(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class Suite:
    settings: dict[str, Any]
    cases: list[Case]


def load_suite(path: Path | None = None, *, quick: bool = False, gpu: bool = False) -> Suite:
    """Read the suite (the shipped ``suite.toml``, or ``suite_gpu.toml`` for a GPU) and draw its cases, seeded."""
    if path is None:
        text = (resources.files("green_estimate.calibration") / ("suite_gpu.toml" if gpu else "suite.toml")).read_text()
    else:
        text = Path(path).read_text()
    try:
        data = parse_toml(text)
    except TOMLDecodeError as e:
        raise ConfigError(f"suite file is not valid TOML: {e}") from e
    settings = dict(data.get("settings", {}))
    rng = random.Random(settings.get("seed", 0))
    groups: list[list[Case]] = []
    for group in data.get("group", []):
        kind = group["kind"]
        if kind not in KINDS:
            raise ConfigError(f"suite group kind {kind!r} is unknown: use one of {', '.join(sorted(KINDS))}")
        grid = group["grid"]
        keys = sorted(grid)
        points = sorted({tuple(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))})
        n = int(group["quick" if quick else "full"])
        chosen = points if n >= len(points) else rng.sample(points, n)
        groups.append([Case(group["class"], kind, pt) for pt in chosen])
    return Suite(settings, interleave(groups))


def interleave(groups: list[list[Case]]) -> list[Case]:
    """The groups' cases taken in turn, one of each group at a time (a group that runs out is skipped).

    A machine's speed drifts over a calibration (a shared 2-vCPU VM drifted by 20 % over ten minutes):
    run one family after the other and the drift becomes a property of the family, which the
    leave-one-family-out errors then blame on the architecture. Interleaved, the drift is noise that
    every family shares.
    """
    return [g[i] for i in range(max((len(g) for g in groups), default=0)) for g in groups if i < len(g)]


# Kinds of case: a ``network`` case times one seeded random network's training steps in context
# (see :mod:`green_estimate.calibration.incontext`); its parameters are family, seed, batch, optimizer.
KINDS = frozenset({"network"})
