"""Reading config files: one reader per format (TOML, YAML), each error naming the file.

Project settings (``pyproject.toml``), sweep files, the calibration suite and runs mapping files
are all read here; what their keys mean is checked by their own modules.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from green_estimate.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (pyproject allows it)
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document's tables; raises :data:`TOMLDecodeError` on bad TOML."""
    return tomllib.loads(text)


def read_toml(path: Path | str) -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a :class:`ConfigError` naming it."""
    return _read(path, "rb", tomllib.load, TOMLDecodeError, "TOML", str)


def read_yaml(path: Path | str) -> Any:
    """Read a YAML file (``yaml.safe_load``); a missing or malformed file is a :class:`ConfigError` naming it."""
    import yaml

    return _read(path, "r", yaml.safe_load, yaml.YAMLError, "YAML", lambda e: " ".join(str(e).split()))


def _read(path: Path | str, mode: str, load: Callable[[Any], Any], error: type[Exception], fmt: str,
          describe: Callable[[Exception], str]) -> Any:
    try:
        with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            return load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    except error as e:
        raise ConfigError(f"{path} is not valid {fmt}: {describe(e)}") from None
