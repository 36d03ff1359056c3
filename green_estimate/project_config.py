"""The ``[tool.green-estimate]`` section of a project's pyproject.toml: defaults for ``check``.

The section is found like ruff finds ``[tool.ruff]``: the nearest pyproject.toml at or above the
working directory that *has* the section. Keys are kebab-case like the command-line options
(``batch-size``; ``batch_size`` is accepted too). A relative ``model`` path is relative to the
pyproject.toml, so ``green-estimate check`` works from any directory of the project. Options given
on the command line override the file.

```toml
[tool.green-estimate]
model = "src/model.py"
budget = "2kWh"
epochs = 25
samples = 60000
batch-size = 512
grad-accum = 4        # micro-batches per optimizer step
gpus = 8              # data parallel; also nodes, interconnect, fsdp, overlap
```
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from green_estimate.config_files import read_toml
from green_estimate.errors import ConfigError
from green_estimate.loading import split_spec

SECTION = "tool.green-estimate"

# Every key of the section and what its value must be.
_POSITIVE_INT = "a positive integer"
_TEXT = "a string"
KNOWN_KEYS: dict[str, str] = {
    "model": _TEXT,
    "budget": 'an energy as a string, e.g. "2kWh"',
    "co2-budget": 'a CO2e mass as a string, e.g. "500g"',
    "conservative": "true or false",
    "batch-size": _POSITIVE_INT,
    "epochs": _POSITIVE_INT,
    "samples": _POSITIVE_INT,
    "steps": _POSITIVE_INT,
    "optimizer": _TEXT,
    "input-shape": "a list of positive integers, e.g. [3, 32, 32]",
    "input-dtype": 'a dtype name as a string, e.g. "int64" for token ids',
    "vocab-size": _POSITIVE_INT,
    "profile": _TEXT,
    "precision": 'one of "fp32", "tf32", "bf16", "fp16" (bf16/fp16: autocast mixed precision)',
    "confidence": "a number between 0 and 1, e.g. 0.9",
    "grid-intensity": "a positive number of gCO2e per kWh, e.g. 400",
    "region": _TEXT,
    "max-increase": 'a percentage as a string, e.g. "10%"',
    "baseline": _TEXT,
    "grad-accum": _POSITIVE_INT,
    "gpus": _POSITIVE_INT,
    "nodes": _POSITIVE_INT,
    "interconnect": 'links as a string, "INTRA[,INTER]", e.g. "nvlink4,ib-ndr"',
    "fsdp": "true or false",
    "overlap": "a number between 0 and 1, e.g. 0.5",
}


@dataclass(frozen=True)
class ProjectConfig:
    """The defaults read from one pyproject.toml (empty when none was found).

    Attributes:
        path: the pyproject.toml whose section was read, or None.
        values: the section's values, keys in kebab-case, types checked.
        start: the directory the search began in.
        nearest: the nearest pyproject.toml found, with or without the section (for messages).
    """

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    start: Path = field(default_factory=Path.cwd)
    nearest: Path | None = None

    def merged(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` (snake_case, None = not given) with the gaps filled from the file."""
        return {
            name: given if given is not None else self.values.get(name.replace("_", "-"))
            for name, given in options.items()
        }

    def options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`merged`, and a ``.json`` profile taken from the file made relative to the file's folder."""
        options = self.merged(given)
        if given.get("profile") is None and options.get("profile"):
            options["profile"] = profile_relative_to(options["profile"], self.path)
        return options

    def where(self) -> str:
        """Where the defaults came from, or why there are none, for messages."""
        if self.path is not None:
            return f"[tool.green-estimate] in {self.path}"
        if self.nearest is not None:
            return f"{self.nearest} has no [tool.green-estimate] section"
        return f"no pyproject.toml with a [tool.green-estimate] section at or above {self.start}"


def unknown_key_error(key: str, known: Iterable[str], where: str, *, what: str = "key") -> ConfigError:
    """A :class:`ConfigError` for a misspelled key (or value: ``what="strategy"``), with the closest known one."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listing = "known keys" if what == "key" else "choose one of"
    return ConfigError(f"unknown {what} {key!r} in {where}; {hint}{listing}: {', '.join(known)}")


def find_pyproject(start: Path, stop: Path | None = None) -> tuple[Path | None, Path | None]:
    """Search ``start`` and its parents for pyproject.toml.

    Args:
        start: the directory to begin in.
        stop: the last directory to look in (default: the filesystem root).

    Returns:
        ``(with_section, nearest)``: the nearest file that has ``[tool.green-estimate]`` and the
        nearest file at all (either may be None).
    """
    nearest = None
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            nearest = nearest or candidate
            if _section(read_toml(candidate)) is not None:
                return candidate, nearest
        if stop is not None and folder == stop:
            break
    return None, nearest


def load_project_config(start: Path, path: Path | None = None, *, stop: Path | None = None) -> ProjectConfig:
    """Read ``[tool.green-estimate]`` from ``path``, or from the nearest pyproject.toml that has it.

    Raises:
        ConfigError: an explicit ``path`` without the section, bad TOML, an unknown key, a bad value.
    """
    start = start.resolve()
    if path is not None:
        section = _section(read_toml(path))
        if section is None:
            raise ConfigError(f"{path} has no [tool.green-estimate] section: add one, e.g. budget = \"2kWh\"")
        found, nearest = path, path
    else:
        found, nearest = find_pyproject(start, stop)
        section = None if found is None else _section(read_toml(found))
    if found is None or section is None:
        return ProjectConfig(start=start, nearest=nearest)
    return ProjectConfig(path=found, values=_validate(section, found), start=start, nearest=nearest)


def _section(document: Mapping[str, Any]) -> dict[str, Any] | None:
    section = document.get("tool", {}).get("green-estimate")
    return section if isinstance(section, dict) else None


def _validate(section: Mapping[str, Any], path: Path) -> dict[str, Any]:
    where = f"[tool.green-estimate] of {path}"
    values: dict[str, Any] = {}
    for raw_key, value in section.items():
        key = raw_key.replace("_", "-")
        if key not in KNOWN_KEYS:
            raise unknown_key_error(raw_key, KNOWN_KEYS, where)
        if key in values:
            raise ConfigError(f"{where} sets {key!r} twice (as {key!r} and with underscores): keep one")
        if not _valid(key, value):
            raise ConfigError(f"{where}: {raw_key} = {value!r} must be {KNOWN_KEYS[key]}")
        values[key] = value
    return values


def _valid(key: str, value: Any) -> bool:
    kind = KNOWN_KEYS[key]
    if kind == _POSITIVE_INT:
        return is_positive_int(value)
    if key in ("conservative", "fsdp"):
        return isinstance(value, bool)
    if key == "overlap":
        return _number(value) and 0 <= value <= 1
    if key == "input-shape":
        return isinstance(value, list) and bool(value) and all(is_positive_int(d) for d in value)
    if key == "confidence":
        return _number(value) and 0 < value < 1
    if key == "grid-intensity":
        return _number(value) and value > 0
    if key == "precision":
        from green_estimate.counting.precision import PRECISIONS

        return value in PRECISIONS
    return isinstance(value, str) and bool(value.strip())


def is_positive_int(value: Any) -> bool:
    """A positive ``int`` (booleans are not numbers here, though Python says they are ints)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _relative_to_file(path: str, config_path: Path) -> str:
    """``path`` as written in the file at ``config_path``, relative to the working directory."""
    joined = config_path.parent / path
    try:
        return os.path.relpath(joined)
    except ValueError:  # another drive on Windows
        return str(joined)


def profile_relative_to(profile: str, config_path: Path | None) -> str:
    """A ``.json`` profile path written in a file is relative to that file's folder; names stay."""
    if config_path is None or not profile.endswith(".json") or os.path.isabs(profile):
        return profile
    return _relative_to_file(profile, config_path)


def model_relative_to(model: str, config_path: Path | None) -> str:
    """A ``.py`` model path written in a file is relative to that file's folder; module specs stay.

    Returns the path relative to the working directory, e.g. ``examples/ci/model.py:Net``.
    """
    target, _ = split_spec(model)
    if config_path is None or not target.endswith(".py") or os.path.isabs(target):
        return model
    return _relative_to_file(model, config_path)
